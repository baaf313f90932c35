"""Routes for environments (placeholder until implemented)."""

from fastapi import APIRouter

router = APIRouter(tags=["environments"])
