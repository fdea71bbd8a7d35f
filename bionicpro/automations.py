"""The project's automations (automations.yaml), put on a Prefect server by `bionicpro automations`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import yaml

AUTOMATIONS_FILE = Path(__file__).resolve().parents[1] / "automations.yaml"
# prefect.yaml's way of naming a block; Prefect resolves it to the block's data, an automation needs its id.
BLOCK_REFERENCE = re.compile(r"\{\{\s*prefect\.blocks\.([\w-]+)\.([\w-]+)\s*\}\}")


def load_automations(text: str, block_id: Callable[[str, str], UUID | None]) -> list:
    """The automations of ``text`` with each block reference replaced by ``block_id(type slug, name)``;
    an action whose block is not saved (``None``) is left out, so that the automation still fires."""
    from prefect.events.schemas.automations import AutomationCore

    automations = []
    for automation in yaml.safe_load(text)["automations"]:
        actions = []
        for action in automation.get("actions", []):
            reference = BLOCK_REFERENCE.fullmatch(str(action.get("block_document_id", "")))
            if reference:
                found = block_id(*reference.groups())
                if found is None:
                    continue
                action = {**action, "block_document_id": str(found)}
            actions.append(action)
        automations.append(AutomationCore.model_validate({**automation, "actions": actions}))
    return automations


def _saved_block_id(client) -> Callable[[str, str], UUID | None]:
    from prefect.exceptions import ObjectNotFound

    def block_id(slug: str, name: str) -> UUID | None:
        try:
            return client.read_block_document_by_name(name, slug, include_secrets=False).id
        except ObjectNotFound:
            return None

    return block_id


def apply_automations(path: Path = AUTOMATIONS_FILE) -> list[tuple[str, int]]:
    """Create each automation of ``path`` on the server, or update the one of its name (so that
    `make up` run twice leaves one of each, with its history); returns (name, actions kept)."""
    from prefect.client.orchestration import get_client

    applied = []
    with get_client(sync_client=True) as client:
        for automation in load_automations(path.read_text(), _saved_block_id(client)):
            existing = client.read_automations_by_name(automation.name)
            if existing:
                client.update_automation(existing[0].id, automation)
                for duplicate in existing[1:]:
                    client.delete_automation(duplicate.id)
            else:
                client.create_automation(automation)
            applied.append((automation.name, len(automation.actions)))
    return applied
