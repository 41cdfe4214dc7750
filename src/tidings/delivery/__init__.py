"""Delivery: notifications out to readers — Web Push, email, Apprise, webhooks and the inbox."""
