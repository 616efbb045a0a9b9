"""The model catalog: ids, display providers and prices, kept as data in ``data/catalog.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .resources import data_dir

SCENARIO_MODEL_PREFIX = "mockrouter/"
SCENARIO_PROVIDER = "Mockrouter"


@dataclass(frozen=True, slots=True)
class CatalogModel:
    id: str
    name: str
    provider: str
    created: int
    context_length: int
    max_completion_tokens: int
    prompt_per_m: float
    completion_per_m: float
    category: str = "text"
    capabilities: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ("text",)
    output_modalities: tuple[str, ...] = ("text",)
    tokenizer: str = "Other"
    reasoning: bool = False
    description: str = ""
    #: Embedding models: the length of a vector.
    dimensions: int | None = None

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def slug(self) -> str:
        return self.id.split("/", 1)[-1]


@dataclass(slots=True)
class Catalog:
    """Models by id, plus the answers the engine needs for any id (known or not)."""

    models: dict[str, CatalogModel] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        raw = yaml.safe_load((path or data_dir() / "catalog.yaml").read_text(encoding="utf-8"))
        models = {}
        for item in raw["models"]:
            model = CatalogModel(
                id=item["id"],
                name=item["name"],
                provider=item["provider"],
                created=int(item["created"]),
                context_length=int(item["context_length"]),
                max_completion_tokens=int(item["max_completion_tokens"]),
                prompt_per_m=float(item["prompt"]),
                completion_per_m=float(item["completion"]),
                category=item.get("category", "text"),
                capabilities=tuple(item.get("capabilities", ())),
                input_modalities=tuple(item.get("input_modalities", ("text",))),
                output_modalities=tuple(item.get("output_modalities", ("text",))),
                tokenizer=item.get("tokenizer", "Other"),
                reasoning=bool(item.get("reasoning", False)),
                description=item.get("description", f"{item['name']}, as served by mockrouter."),
                dimensions=int(item["dimensions"]) if "dimensions" in item else None,
            )
            models[model.id] = model
        return cls(models)

    def get(self, model_id: str) -> CatalogModel | None:
        return self.models.get(model_id)

    def provider_for(self, model_id: str) -> str:
        """The provider display name a response claims for ``model_id``."""
        known = self.models.get(model_id)
        if known is not None:
            return known.provider
        if model_id.startswith(SCENARIO_MODEL_PREFIX) or not model_id:
            return SCENARIO_PROVIDER
        author = model_id.split("/", 1)[0] if "/" in model_id else model_id
        return author.replace("-", " ").title()

    def provider_names(self) -> list[str]:
        """Every provider the catalog names, in catalog order, then the scenarios' own."""
        names = list(dict.fromkeys(m.provider for m in self.models.values()))
        return [*names, SCENARIO_PROVIDER] if SCENARIO_PROVIDER not in names else names

    def provider_display(self, name: str) -> str:
        """A provider named by slug or in any case (``google-ai-studio``) → its display name."""
        wanted = name.strip().lower()
        for display in self.provider_names():
            if wanted in (display.lower(), "-".join(display.lower().split())):
                return display
        return name

    def billing(self, model_id: str) -> tuple[str, float, float]:
        """``provider_for`` and ``prices`` in one lookup (rendering asks for both every request)."""
        known = self.models.get(model_id)
        if known is None:
            return self.provider_for(model_id), 0.0, 0.0
        return known.provider, known.prompt_per_m / 1e6, known.completion_per_m / 1e6

    def prices(self, model_id: str) -> tuple[float, float]:
        """USD per token (prompt, completion); 0 for models the catalog does not know."""
        _, prompt, completion = self.billing(model_id)
        return prompt, completion
