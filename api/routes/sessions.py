"""Routes for sessions (placeholder until implemented)."""

from fastapi import APIRouter

router = APIRouter(tags=["sessions"])
