"""Routes for events (placeholder until implemented)."""

from fastapi import APIRouter

router = APIRouter(tags=["events"])
