// Tidings pages: plain JS, no build step.
