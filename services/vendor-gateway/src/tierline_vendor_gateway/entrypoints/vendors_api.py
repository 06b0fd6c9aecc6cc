"""The vendor registry's API: register, read, change, disable and re-enable vendors.

Reading takes ``incidents:read``, changing takes ``admin``. Secrets go in and never come
out: answers name each secret by a fingerprint, enough to tell which ones are active.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, ValidationError, create_model

from tierline_shared.api import KEY_PROBLEMS, Admin, RuntimeDep
from tierline_shared.catalog.routes import CatalogOps, Work, mount
from tierline_shared.catalog.schemas import catalog_schemas, kept, to_domain
from tierline_shared.schemas import ApiModel
from tierline_vendor_gateway.domain.vendors import (
    NAME_PATTERN,
    Contract,
    Schedule,
    Secrets,
    Timeout,
    Vendor,
    check_url,
    fingerprint,
)
from tierline_vendor_gateway.service_layer import registry
from tierline_vendor_gateway.service_layer.deps import GatewayDeps
from tierline_vendor_gateway.service_layer.registry import Registered
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

router = APIRouter(tags=["vendors"])
# each request's unit of work over its session, and the deps the changing use cases take
WORK = Work[GatewayUnitOfWork, GatewayDeps](
    unit_of_work=lambda rt, session: GatewayUnitOfWork(session, rt.outbox),
    deps=lambda rt: rt.state["deps"],
)
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such vendor (problem+json)"},
    409: {"description": "A vendor of that name exists (problem+json)"},
    422: {
        "description": "Invalid input, naming the field (problem+json); a webhook_url the SSRF guard "
        "refuses (non-public address, or plain http to a host not allow-listed) too"
    },
}
EXAMPLE_SECRET = "whsec_RiZLIxYIZfrqWljtaeavQ4YgK1rVr86K"
VET = (
    "The webhook_url must pass the SSRF guard deliveries apply: https to public addresses, unless its "
    "host is in delivery.allow_hosts (422 naming webhook_url otherwise). A host name that does not "
    f"resolve within {registry.VET_DNS_TIMEOUT_SECONDS:g} s is accepted with a warning; every delivery "
    "checks the address again."
)


VENDOR_EXAMPLE = {
    "name": "initech-storage",
    "webhook_url": "https://hooks.initech.example/tierline",
    "secrets": [EXAMPLE_SECRET],
    "callback_secrets": ["whsec_mYOztMVrDDw9i0BW9/xISgmDoYDcz3TI"],
    "products": ["SAN-9000"],
    "categories": ["storage"],
    "contract": {"response": "1h", "resolution": "8h"},
    "timeout": "10s",
    "schedule": ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"],
}


class VendorFields(BaseModel):
    """A vendor as the API takes it, but the name."""

    webhook_url: Annotated[HttpUrl, AfterValidator(check_url)] = Field(description="Where cases are POSTed")
    secrets: Secrets = Field(
        repr=False,
        description="Signing secrets (whsec_...); every delivery carries one signature per secret, "
        "so a new secret can be added before the old one is dropped",
    )
    callback_secrets: Secrets = Field(
        repr=False, description="Secrets the vendor may sign its callbacks with"
    )
    products: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200, description="Products the vendor supports"
    )
    categories: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200, description="Incident categories the vendor takes"
    )
    contract: Contract | None = Field(
        default=None, description="The vendor's SLA, used when the escalation names none"
    )
    timeout: Timeout = Field(default=None, description="Per-request timeout; default: delivery.timeout")
    schedule: Schedule = Field(
        default=None,
        description="Delay before each attempt (e.g. 0s, 5s, 5m, 30m, 2h, 5h, 10h, 10h), each with up "
        "to 10 % jitter; default: the gateway's delivery policy",
    )


class Registering(BaseModel):
    """What registering takes besides the vendor."""

    enabled: bool = True


NOT_NULLABLE = ("webhook_url", "secrets", "callback_secrets", "products", "categories")


def _patch_schema(schema: dict[str, Any]) -> None:
    """Optional but not nullable (null is refused), so the schema offers no null for these."""
    for name in NOT_NULLABLE:
        field = schema["properties"][name]
        options = [o for o in field.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            field.update(options[0])
        elif options:
            field["anyOf"] = options
    schema["examples"] = [{"secrets": ["whsec_new...", "whsec_old..."]}]


class VendorPatch(ApiModel):
    """Only the fields sent change; send ``null`` to drop a contract, timeout or schedule."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema, _: _patch_schema(schema))

    webhook_url: HttpUrl | None = None
    secrets: Secrets | None = None
    callback_secrets: Secrets | None = None
    products: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=200
    )
    categories: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=200
    )
    contract: Contract | None = None
    timeout: Timeout = None
    schedule: Schedule = None


class DisableIn(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "contract ended"}]})

    reason: str | None = Field(default=None, max_length=500)


class SecretOut(BaseModel):
    fingerprint: str = Field(description="sha256 of the secret, shortened; the secret itself is never shown")


class ContractOut(BaseModel):
    response_seconds: float | None
    resolution_seconds: float | None


class VendorAnswer(BaseModel):
    name: str
    webhook_url: str
    secrets: list[SecretOut]
    callback_secrets: list[SecretOut]
    products: list[str]
    categories: list[str]
    contract: ContractOut | None
    timeout_seconds: float | None = Field(description="None: the gateway's default")
    schedule_seconds: list[float] | None = Field(description="None: the gateway's delivery policy")
    enabled: bool
    disabled_reason: str | None


SCHEMAS = catalog_schemas(
    "Vendor",
    VendorFields,
    VendorAnswer,
    name=Annotated[str, Field(min_length=1, max_length=63, pattern=NAME_PATTERN)],
    replace=False,
    example=VENDOR_EXAMPLE,
    extra_in=Registering,
    managed_by_description="config (vendors.yaml, re-applied at every start) or api",
    has_created_at=True,
)
VendorIn = SCHEMAS.create
# an answer with warnings about what was taken, made at import like the Out model it extends
_VendorChangedOut: type[BaseModel] = create_model(
    "VendorChangedOut",
    __base__=SCHEMAS.answer,
    __module__=__name__,
    warnings=(
        list[str],
        Field(
            description="What was accepted but may not work yet, e.g. a webhook host that does not "
            "resolve now (deliveries check it again as they send)"
        ),
    ),
)
if TYPE_CHECKING:  # models made at import: the checker knows them as the API models they are
    VendorOut = BaseModel
    VendorChangedOut = BaseModel
else:
    VendorOut = SCHEMAS.answer
    VendorChangedOut = _VendorChangedOut


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _out(registered: Registered) -> Any:
    vendor = registered.vendor
    return VendorOut(
        name=vendor.name,
        webhook_url=str(vendor.webhook_url),
        secrets=[SecretOut(fingerprint=fingerprint(s)) for s in vendor.secrets],
        callback_secrets=[SecretOut(fingerprint=fingerprint(s)) for s in vendor.callback_secrets],
        products=vendor.products,
        categories=vendor.categories,
        contract=ContractOut(
            response_seconds=_seconds(vendor.contract.response),
            resolution_seconds=_seconds(vendor.contract.resolution),
        )
        if vendor.contract
        else None,
        timeout_seconds=_seconds(vendor.timeout),
        schedule_seconds=[d.total_seconds() for d in vendor.schedule]
        if vendor.schedule is not None
        else None,
        enabled=registered.is_enabled,
        disabled_reason=registered.disabled_reason,
        **kept(registered, VendorOut),
    )


def _merged(current: Vendor, patch: VendorPatch) -> Vendor:
    try:
        return Vendor.model_validate({**current.model_dump(), **patch.model_dump(exclude_unset=True)})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _request(body: Any, _name: str) -> tuple[Vendor, bool]:
    return to_domain(Vendor, body.model_dump(exclude={"enabled"})), body.enabled


async def _vet(deps: GatewayDeps, request: Sequence[Any]) -> list[str]:
    vendor, _enabled = request
    return await registry.vet_webhook_url(deps, str(vendor.webhook_url))  # no DNS in a transaction


def _with_warnings(answer: Any, warnings: list[str]) -> VendorChangedOut:
    return VendorChangedOut(**answer.model_dump(), warnings=warnings)


OPS = CatalogOps(
    WORK,
    "vendor",
    registry,
    {"list": "Every vendor", "create": "Register a vendor", "get": "One vendor"},
    request=_request,
    answer=_out,
    create_out=VendorChangedOut,
    prepare=_vet,
    created=_with_warnings,
    descriptions={"create": VET},
)
mount(router, "/v1/vendors", SCHEMAS, OPS, responses=PROBLEMS)


@router.patch(
    "/v1/vendors/{name}",
    response_model=VendorChangedOut,
    responses=PROBLEMS,
    summary="Change a vendor (endpoint, secrets, products, contract, timeout, schedule)",
    description="Pending deliveries go to the new endpoint, signed with the new secrets. To rotate a "
    "signing secret, send the new and the old one, let the vendor switch, then send the new one alone. "
    "A vendor from vendors.yaml gets the file's values back at the next start. " + VET,
)
async def patch_vendor(name: str, body: VendorPatch, rt: RuntimeDep, principal: Admin) -> VendorChangedOut:
    warnings: list[str] = []
    if body.webhook_url is not None:  # only a new endpoint is vetted, and before the vendor is locked
        warnings = await registry.vet_webhook_url(rt.state["deps"], str(body.webhook_url))
    async with WORK.changing(rt) as uow:
        current = await registry.get(uow, name, lock=True)  # concurrent edits apply one after the other
        registered = await registry.update(uow, rt.state["deps"], _merged(current.vendor, body))
    return VendorChangedOut(**_out(registered).model_dump(), warnings=warnings)


@router.post(
    "/v1/vendors/{name}/disable",
    response_model=VendorOut,
    responses=PROBLEMS,
    summary="Stop delivering to a vendor: new cases go back to L3 at once; pending deliveries are "
    "dead-lettered as they come due",
)
async def disable_vendor(
    name: str, rt: RuntimeDep, principal: Admin, body: DisableIn | None = None
) -> VendorOut:
    reason = body.reason if body else None
    async with WORK.changing(rt) as uow:
        return _out(await registry.switch(uow, rt.state["deps"], name, enabled=False, reason=reason))


@router.post(
    "/v1/vendors/{name}/enable",
    response_model=VendorOut,
    responses=PROBLEMS,
    summary="Re-enable a vendor's endpoint (after a 410 Gone or a disable); replay its dead deliveries next",
)
async def enable_vendor(name: str, rt: RuntimeDep, principal: Admin) -> VendorOut:
    async with WORK.changing(rt) as uow:
        return _out(await registry.switch(uow, rt.state["deps"], name, enabled=True))
