"""The strict base model every config section derives from."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Immutable, rejects unknown keys: a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
