"""The site's routers, built once per orders instance."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.orders.settings import OrdersSettings
from services.orders.web import eligibility, info, pages
from shared.runtime import Service
from shared.web.csrf import require_csrf


class SiteRoutes:
    def __init__(self, service: Service, settings: OrdersSettings) -> None:
        self.service = service
        self.settings = settings
        self.pages = pages.build()

    def routers(self) -> list[APIRouter]:
        """Every page router; each checks the CSRF token on any form it takes."""
        csrf = [Depends(require_csrf)]
        site = APIRouter(dependencies=csrf, include_in_schema=False)
        site.include_router(info.router(self.pages))
        site.include_router(eligibility.router(self.pages))
        return [site]
