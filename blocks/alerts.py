"""The notification block the project's automations send through (automations.yaml)."""

from __future__ import annotations

from pydantic import SecretStr

ALERT_BLOCK = "bionicpro-alerts"


def alert_block(url: SecretStr):
    """A JSON POST of the notification's subject and body to ``url``. The URL is one of the block's
    secrets, not its plain ``url`` field: chat webhooks carry their token in it. ``text`` is what
    Slack- and Mattermost-style incoming webhooks display."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    return CustomWebhookNotificationBlock(
        name=ALERT_BLOCK,
        url="{{url}}",
        secrets={"url": url.get_secret_value()},
        json_data={"text": "{{subject}}\n\n{{body}}", "subject": "{{subject}}", "body": "{{body}}"},
    )
