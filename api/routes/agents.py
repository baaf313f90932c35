"""Routes for agents (placeholder until implemented)."""

from fastapi import APIRouter

router = APIRouter(tags=["agents"])
