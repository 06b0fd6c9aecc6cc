"""Alembic environment for the vendor gateway's own database."""

from tierline_shared.migrations import run_env
from tierline_vendor_gateway.adapters.orm import Base

run_env(Base.metadata)
