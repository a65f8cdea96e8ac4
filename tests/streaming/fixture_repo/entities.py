"""Entities of the streaming test repo."""

from feast import Entity, ValueType

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64, description="A payment card.")
