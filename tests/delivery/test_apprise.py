"""Apprise against a local receiver of its ``json://`` posts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.delivery.messages import assad_message
from tidings.config import Settings
from tidings.delivery.channels import TEST_TITLE, DeliveryError, make_channel, send_test
from tidings.delivery.channels.apprise import InvalidAppriseURL, apprise_plugin


def json_url(receiver, path="/apprise"):
    return "json://" + receiver.base_url.removeprefix("http://") + path


def test_apprise_json_post_is_received(hook_receiver, channel_settings):
    message = assad_message()
    make_channel("apprise", {"url": json_url(hook_receiver)}, channel_settings).send(message)
    [post] = hook_receiver.accepted("/apprise")
    body = post.json()
    assert body["title"] == message.title
    assert message.url in body["message"] and message.snippet in body["message"]
    assert "Oneindia · Shubham" in body["message"]


def test_apprise_failure_is_temporary(hook_receiver, channel_settings):
    hook_receiver.answer("/apprise", 500)
    channel = make_channel("apprise", {"url": json_url(hook_receiver)}, channel_settings)
    with pytest.raises(DeliveryError) as caught:
        channel.send(assad_message())
    assert not caught.value.permanent
    assert len(hook_receiver.posts) >= 1


@pytest.mark.parametrize("url", ["bogus://nothing", "json://", "not a url"])
def test_invalid_apprise_url_is_permanent(url, channel_settings):
    with pytest.raises(DeliveryError) as caught:
        make_channel("apprise", {"url": url}, channel_settings).send(assad_message())
    assert caught.value.permanent


def test_private_apprise_host_is_refused_unless_allowed(hook_receiver, tmp_path):
    strict = Settings.from_env({}, data_dir=tmp_path)
    channel = make_channel("apprise", {"url": json_url(hook_receiver)}, strict)
    with pytest.raises(DeliveryError, match="private") as caught:
        channel.send(assad_message())
    assert caught.value.permanent
    assert hook_receiver.posts == []
    with pytest.raises(InvalidAppriseURL):
        apprise_plugin("ntfy://localhost/news", strict)
    apprise_plugin(json_url(hook_receiver), replace(strict, allow_private_networks=True))


def test_services_with_a_fixed_endpoint_are_not_resolved(tmp_path):
    strict = Settings.from_env({}, data_dir=tmp_path)
    # the "hosts" here are a bot id (an integer IPv4 form of 10.0.0.1) and a webhook id
    apprise_plugin("tgram://167772161:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/12345", strict)
    apprise_plugin("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", strict)
    with pytest.raises(InvalidAppriseURL, match="10.0.0.1"):  # where json:// would really post
        apprise_plugin("json://167772161/hook", strict)


def test_send_test_on_apprise(hook_receiver, channel_settings):
    send_test(make_channel("apprise", {"url": json_url(hook_receiver)}, channel_settings))
    [post] = hook_receiver.accepted("/apprise")
    assert post.json()["title"] == TEST_TITLE
