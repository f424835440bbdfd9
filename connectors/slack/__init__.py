"""The Slack connector (Events API in, chat.postMessage out)."""
