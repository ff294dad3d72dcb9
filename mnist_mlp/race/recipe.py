"""A training recipe as data: what the open division frees, and nothing else.

The network is fixed (the seed's 784-128-32-10); a recipe sets the batch size, Adam's settings, a
learning-rate schedule and an epoch budget (and, for Keras, how many steps one compiled call
runs). The schedule changes the learning rate between epochs only (``learning_rate_at``), so
every implementation applies it the same way through its own API (Keras'
``LearningRateScheduler``; ``Trainer.set_learning_rate`` for native code) and the per-step proof
against NumPy covers it (``verify_training(learning_rates=...)``).

Recipes live in ``recipes.json`` beside this module, with the search that chose them; a user races
another with ``--recipe FILE`` (the same format). A file that is not such a recipe is refused in
one line naming the file and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from mnist_mlp.errors import UsageError

#: the recipes file shipped with the package
DEFAULT_RECIPES = Path(__file__).with_name("recipes.json")
SCHEDULES = ("constant", "linear-decay")


@dataclass(frozen=True)
class Recipe:
    """Batch, Adam and a per-epoch schedule: ``learning_rate`` is the peak, reached after
    ``warmup_epochs`` (linear from ``learning_rate / (warmup_epochs + 1)``); ``linear-decay`` then
    falls linearly, epoch by epoch, towards ``final_fraction`` of the peak at the end of the budget
    (the last epoch runs one step above it, never at zero)."""

    name: str
    batch_size: int
    learning_rate: float
    epochs: int
    schedule: str = "constant"
    warmup_epochs: int = 0
    final_fraction: float = 0.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    #: Keras only: ``compile(steps_per_execution=...)``, the training steps of one compiled call.
    #: It changes no arithmetic (the same steps, in the same order); it saves the per-step call
    #: into the framework that dominates a model this small, as native-fast's one call per epoch
    #: does. Keras on PyTorch allows only 1; native racers group their steps their own way.
    steps_per_execution: int = 1

    def __post_init__(self) -> None:
        where = f"recipe {self.name!r}"
        for name in ("batch_size", "epochs", "steps_per_execution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{where}: {name} must be a whole number of at least 1, got {value!r}")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"{where}: schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) or not 0 <= self.warmup_epochs < self.epochs:
            raise UsageError(f"{where}: warmup_epochs must be a whole number from 0 to epochs - 1, got {self.warmup_epochs!r}")
        for name, low, high in (("learning_rate", 0.0, 1.0), ("final_fraction", -1e-12, 1.0), ("beta_1", 0.0, 1.0),
                                ("beta_2", 0.0, 1.0), ("epsilon", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low < value <= high:
                raise UsageError(f"{where}: {name} must be a number in ({max(low, 0):g}, {high:g}], got {value!r}")

    def execution_problem(self, case_id: str, implementation: str, keras_multi_step: bool) -> str:
        """Why case ``case_id`` cannot race this recipe as written ("" when it can): several steps
        per execution are Keras' compile option, which native code (grouping its steps its own way)
        would ignore while its results said otherwise, and which Keras on PyTorch refuses."""
        if self.steps_per_execution == 1:
            return ""
        where = f"recipe {self.name!r} sets steps_per_execution {self.steps_per_execution} for {case_id}"
        if implementation != "keras":
            return f"{where}, which races native code: it is Keras' compile option (give the recipe to Keras cases only)"
        if not keras_multi_step:
            return f"{where}: Keras on this backend runs one step per execution only"
        return ""

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based): the whole epoch runs at it."""
        peak = float(self.learning_rate)
        if epoch < self.warmup_epochs:
            return peak * (epoch + 1) / (self.warmup_epochs + 1)
        if self.schedule == "constant":
            return peak
        progress = min(1.0, (epoch - self.warmup_epochs) / (self.epochs - self.warmup_epochs))
        return peak * (1.0 - (1.0 - self.final_fraction) * progress)

    def learning_rates(self, epochs: int | None = None) -> list[float]:
        return [self.learning_rate_at(e) for e in range(epochs or self.epochs)]

    def line(self) -> str:
        """The recipe in one line (the report's)."""
        schedule = (f"{self.schedule}" + (f" to {self.final_fraction:g}x" if self.schedule == "linear-decay" else "")
                    + (f", {self.warmup_epochs} warm-up epoch(s)" if self.warmup_epochs else ""))
        calls = f", {self.steps_per_execution} steps per execution" if self.steps_per_execution > 1 else ""
        return (f"batch {self.batch_size}, Adam lr {self.learning_rate:g} ({schedule}), "
                f"at most {self.epochs} epochs{calls}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "recipe") -> "Recipe":
        if not isinstance(data, Mapping):
            raise UsageError(f"{where}: a recipe must be an object of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        missing = [name for name in ("name", "batch_size", "learning_rate", "epochs") if name not in data]
        if missing:
            raise UsageError(f"{where}: missing field(s) {', '.join(missing)}")
        try:
            return cls(**dict(data))
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None


#: the seed's own recipe, raced under the same rules for the ratio (its fixed 25 epochs are the budget)
SEED_RECIPE = Recipe(name="seed", batch_size=32, learning_rate=1e-3, epochs=25)


@dataclass(frozen=True)
class RecipeBook:
    """The recipes of a file, which case uses which (``use``: a case id, an implementation or ``*``),
    and the searches that chose them."""

    recipes: dict[str, Recipe]
    use: dict[str, str]
    chosen_by: str
    path: str

    def for_case(self, case_id: str, implementation: str = "keras") -> Recipe:
        """The case's recipe: ``use`` by case id, else by implementation (``keras``, ``native``,
        ``native-fast``), else ``*``."""
        name = self.use.get(case_id, self.use.get(implementation, self.use.get("*")))
        if name is None:
            raise UsageError(f"{self.path}: no recipe for case {case_id} (add it, or '*', to \"use\")")
        return self.recipes[name]


def recipes_identity(path: str | Path | None = None) -> dict[str, Any]:
    """Which recipe book a run races, as its workload records it: the file given (None: the
    package's) and the SHA-256 of its bytes, so ``--resume`` races the same recipes or refuses."""
    import hashlib

    book = Path(path) if path is not None else DEFAULT_RECIPES
    try:
        digest = hashlib.sha256(book.read_bytes()).hexdigest()
    except OSError as exc:
        raise UsageError(f"--recipe: {book}: cannot read it ({exc.strerror or exc})") from None
    return {"file": str(book.resolve()) if path is not None else None, "sha256": digest}


def load_recipes(path: str | Path | None = None) -> RecipeBook:
    """The recipe book at ``path`` (default: the package's). A file holding one recipe (an object
    with ``name`` and ``batch_size``) is a book whose recipe every case uses."""
    path = Path(path) if path is not None else DEFAULT_RECIPES
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--recipe: {where}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--recipe: {where}: not a JSON recipe file ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and "batch_size" in data:
        recipe = Recipe.from_dict(data, where)
        return RecipeBook({recipe.name: recipe}, {"*": recipe.name}, "a file given by the user, no committed search", where)
    if not isinstance(data, dict) or not isinstance(data.get("recipes"), dict) or not data["recipes"]:
        raise UsageError(f"--recipe: {where}: expected a recipe, or {{\"recipes\": {{name: recipe}}, \"use\": ...}}")
    recipes = {name: Recipe.from_dict({"name": name, **body}, f"{where}: recipe {name!r}")
                for name, body in data["recipes"].items()}
    use = data.get("use") or {"*": next(iter(recipes))}
    for case, name in use.items():
        if name not in recipes:
            raise UsageError(f"{where}: \"use\" names recipe {name!r} for {case}, which the file does not hold")
    shown = "mnist_mlp/race/recipes.json (the package's)" if path == DEFAULT_RECIPES else where
    return RecipeBook(recipes, dict(use), str(data.get("chosen_by", "")), shown)
