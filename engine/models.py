"""Request models, and (from engine.responses) the response models: the API's single source of truth.

The OpenAPI document is generated from these. Sync endpoints take
`<Operation>Request`; `POST /api/batches` takes the same fields plus
`operation` (see `parse_batch_request`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import InvalidRequest, PayloadTooLarge
from engine.responses import (  # noqa: F401 - the API's models, all in this one namespace
    FINISHED_STATES,
    BatchCreated,
    BatchList,
    BatchState,
    BatchStatus,
    BatchSummary,
    CascadeStatus,
    DryRunEstimate,
    ErrorBody,
    ErrorGroup,
    ErrorResponse,
    FieldValues,
    ItemError,
    OutputPage,
    OutputRecord,
    RatePoint,
    SyncResponse,
    Usage,
    ValueCount,
)

MAX_SYNC_ITEMS = 50
MAX_BATCH_ITEMS = 1_000_000
MAX_CONTENT_CHARS = 1_000_000  # ~250k tokens: more than any model's context window
OPERATIONS = ("label", "summarize", "extract", "enrich", "run")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Item(StrictModel):
    content: str = Field(max_length=MAX_CONTENT_CHARS, description="The text to process.")
    metadata: dict[str, Any] | None = Field(
        default=None, description="Extra fields, usable as {name} in user_prompt_template."
    )
    id: str | None = Field(
        default=None, max_length=256, description="Your identifier; it comes back with the result."
    )

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class JsonSchemaSpec(StrictModel):
    name: str = Field(default="result", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool = True
    description: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResponseFormat(StrictModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None

    @model_validator(mode="after")
    def _schema_with_type(self) -> "ResponseFormat":
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("json_schema is required when type is 'json_schema'")
        return self


ANSWER_KEYS = ("model", "confidence")  # what a cascade's sync entries add to each answer


class CascadeSpec(StrictModel):
    """A cheap model answers every item; the items it is unsure of go to a strong model."""

    models: list[str] = Field(min_length=2, max_length=2, description="[cheap, strong], each provider/model.")
    target_agreement: float = Field(
        default=0.95, gt=0, lt=1, description="The share of answers that must agree with the strong model's.")
    sample: int = Field(default=200, ge=1, le=100_000, description="Items both models answer, to learn the threshold.")

    @field_validator("models")
    @classmethod
    def _two_models(cls, value: list[str]) -> list[str]:
        if value[0] == value[1]:
            raise ValueError("the cheap and the strong model must differ")
        return value


class OperationParams(StrictModel):
    """Fields every operation accepts."""

    cascades: ClassVar[bool] = False  # whether the operation takes a `cascade` (label and enrich)

    model: str | None = Field(default=None, description="provider/model, e.g. openai/gpt-4.1-mini")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=128_000)
    system_prompt: str | None = Field(default=None, max_length=100_000)
    user_prompt_template: str | None = Field(default=None, max_length=100_000)
    cascade: CascadeSpec | None = Field(default=None, description="Label and enrich: a cheap model, then a strong one.")

    @model_validator(mode="after")
    def _cascade_alone(self) -> "OperationParams":
        if self.cascade is not None and not self.cascades:
            raise InvalidRequest("cascade works on label and enrich only", field="cascade")
        if self.cascade is not None and self.model is not None:
            raise InvalidRequest("give model or cascade, not both: the cascade names its two models", field="model")
        return self


class Category(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2_000)
    examples: list[str] | None = Field(default=None, max_length=20)


CategoryName = Annotated[str, Field(min_length=1, max_length=200)]


class LabelParams(OperationParams):
    cascades: ClassVar[bool] = True
    categories: list[Union[CategoryName, Category]] = Field(
        min_length=1, max_length=5_000, json_schema_extra={"uniqueItems": True}
    )
    multi_label: bool = False
    include_rationale: bool = False

    @field_validator("categories", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        """One error naming the entry, not one per member of the union (`categories.0.constrained-str`)."""
        if not isinstance(value, list):
            return value  # the list's own type error
        entries = []
        for number, entry in enumerate(value):
            if isinstance(entry, dict):
                try:
                    entry = Category.model_validate(entry)
                except ValidationError as exc:
                    error = exc.errors(include_url=False, include_input=False)[0]
                    raise ValueError(f"entry {number}: {'.'.join(map(str, error['loc']))}: {error['msg']}") from None
            elif not isinstance(entry, (str, Category)):
                raise ValueError(f"entry {number} must be a category name, or an object with name, "
                                 "description and examples")
            entries.append(entry)
        return entries

    @field_validator("categories")
    @classmethod
    def _unique_names(cls, value: list) -> list:
        names = [c if isinstance(c, str) else c.name for c in value]
        if any(not n.strip() for n in names):
            raise ValueError("category names may not be empty")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate categories: {', '.join(duplicates[:10])}")
        return value

    @property
    def category_names(self) -> list[str]:
        return [c if isinstance(c, str) else c.name for c in self.categories]


class SummarizeParams(OperationParams):
    summary_instructions: str | None = Field(default=None, max_length=20_000)
    response_format: ResponseFormat | None = None


class ExtractParams(OperationParams):
    extraction_instructions: str = Field(min_length=1, max_length=20_000)
    response_format: ResponseFormat | None = None


FieldType = Literal["categorical", "numeric", "integer", "boolean", "text", "list"]


class EnrichField(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: FieldType
    description: str | None = Field(default=None, max_length=2_000)
    valid_values: list[str] | None = Field(default=None, min_length=1, max_length=5_000)
    examples: list[Any] | None = Field(default=None, max_length=20)


class EnrichParams(OperationParams):
    cascades: ClassVar[bool] = True
    fields: list[EnrichField] = Field(min_length=1, max_length=200)
    runtime_categories: dict[str, list[str]] | None = None
    include_context: bool = False

    @model_validator(mode="after")
    def _categorical_values(self) -> "EnrichParams":
        # InvalidRequest, not ValueError: pydantic passes it through, and it can name the field
        # (a model validator's ValueError has no location, so it would be reported against the body).
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise InvalidRequest("field names must be unique", field="fields")
        runtime = self.runtime_categories or {}
        unknown = sorted(set(runtime) - set(names))
        if unknown:
            raise InvalidRequest(f"runtime_categories names unknown fields: {', '.join(unknown)}",
                                 field="runtime_categories")
        for number, f in enumerate(self.fields):
            if self.cascade is not None and f.name in ANSWER_KEYS:
                raise InvalidRequest(f"a cascade's answers carry {f.name!r}: give the field another name",
                                     field=f"fields.{number}.name")
            if f.type == "categorical" and not (runtime.get(f.name) or f.valid_values):
                raise InvalidRequest(f"categorical field {f.name!r} needs valid_values or runtime_categories",
                                     field=f"fields.{number}.valid_values")
        return self


class RunParams(OperationParams):
    response_format: ResponseFormat | None = None


class ChatParams(OperationParams):
    """A pass-through batch (the OpenAI Batch API): each item's content is a chat-completions body."""

    endpoint: Literal["/v1/chat/completions"] = "/v1/chat/completions"


class ItemsMixin(StrictModel):
    items: list[Item] = Field(min_length=1, description="The items to process.")
    cache: bool | None = Field(default=None, description="Reuse identical earlier calls (default: AGENTFLOW_CACHE).")


class LabelRequest(LabelParams, ItemsMixin):
    pass


class SummarizeRequest(SummarizeParams, ItemsMixin):
    pass


class ExtractRequest(ExtractParams, ItemsMixin):
    pass


class EnrichRequest(EnrichParams, ItemsMixin):
    pass


class RunRequest(RunParams, ItemsMixin):
    pass


SYNC_REQUESTS: dict[str, type[ItemsMixin]] = {
    "label": LabelRequest,
    "summarize": SummarizeRequest,
    "extract": ExtractRequest,
    "enrich": EnrichRequest,
    "run": RunRequest,
}
PARAMS: dict[str, type[OperationParams]] = {
    "label": LabelParams,
    "summarize": SummarizeParams,
    "extract": ExtractParams,
    "enrich": EnrichParams,
    "run": RunParams,
    "chat": ChatParams,  # no sync or /api/batches request: only the OpenAI Batch API makes these
}


class BatchControls(StrictModel):
    """How a batch runs, apart from what it computes (also form fields of POST /api/files)."""

    dry_run: bool = Field(default=False, description="Estimate items, tokens and cost; call no provider.")
    max_cost: float | None = Field(default=None, gt=0, description="Stop dispatch once the spend (USD) reaches this.")
    max_error_rate: float | None = Field(
        default=None, gt=0, le=1, description="Stop once this share of items has failed (after error_rate_min_items)."
    )
    error_rate_min_items: int = Field(default=100, ge=1)
    cache: bool | None = Field(default=None, description="Reuse identical earlier calls (default: AGENTFLOW_CACHE).")


CONTROL_FIELDS = frozenset(BatchControls.model_fields)


class BatchOptions(BatchControls):
    """Batch-only fields."""

    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class BatchLabelRequest(LabelParams, BatchOptions):
    operation: Literal["label"]


class BatchSummarizeRequest(SummarizeParams, BatchOptions):
    operation: Literal["summarize"]


class BatchExtractRequest(ExtractParams, BatchOptions):
    operation: Literal["extract"]


class BatchEnrichRequest(EnrichParams, BatchOptions):
    operation: Literal["enrich"]


class BatchRunRequest(RunParams, BatchOptions):
    operation: Literal["run"]


BATCH_REQUESTS: dict[str, type[BaseModel]] = {
    "label": BatchLabelRequest,
    "summarize": BatchSummarizeRequest,
    "extract": BatchExtractRequest,
    "enrich": BatchEnrichRequest,
    "run": BatchRunRequest,
}
OPERATION_NAMES = f"classify, {', '.join(OPERATIONS)}"  # as error messages list them


def items_count_error(body: Any, limit: int = MAX_BATCH_ITEMS, hint: str = "upload a file to POST /api/files"):
    """A 413 for too many items, found before validating them one by one."""
    items = body.get("items") if isinstance(body, dict) else None
    if isinstance(items, list) and len(items) > limit:
        return PayloadTooLarge(f"{len(items)} items: at most {limit} per request; {hint}", field="items")
    return None


def operation_of(name: Any) -> str:
    """The operation a request names (`classify` is `label`); InvalidRequest naming `operation` if none."""
    operation = name.strip() if isinstance(name, str) else name
    operation = "label" if operation == "classify" else operation
    if operation not in OPERATIONS:
        given = "is required" if operation in (None, "") else f"{name!r} is unknown"
        raise InvalidRequest(f"operation {given}: one of {OPERATION_NAMES}", field="operation")
    return operation


def parse_batch_request(body: Any) -> BaseModel:
    """The body, validated by its operation's own model.

    So error fields are plain paths (`categories`, not pydantic's `label.categories`).
    """
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", field="body")
    operation = operation_of(body.get("operation"))
    return BATCH_REQUESTS[operation].model_validate({**body, "operation": operation})


def params_of(request: BaseModel, operation: str) -> OperationParams:
    """The operation's parameters without the items (what a batch stores)."""
    data = request.model_dump(exclude={"items", "operation", *CONTROL_FIELDS}, by_alias=True, exclude_none=True)
    return PARAMS[operation].model_validate(data)


def controls_of(request: BaseModel) -> BatchControls:
    return BatchControls.model_validate(request.model_dump(include=set(CONTROL_FIELDS)))
