"""The site's routers, built once per orders instance."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.orders.settings import OrdersSettings
from services.orders.web import (
    accounts,
    add_location,
    eligibility,
    info,
    ordering,
    pages,
    passwords,
    sign_in,
    your_orders,
)
from services.orders.web.auth import SiteAuth
from shared.identity import IdentityClient
from shared.runtime import Service
from shared.web.csrf import require_csrf


class SiteRoutes:
    def __init__(self, service: Service, settings: OrdersSettings) -> None:
        self.service = service
        self.pages = pages.build()
        self.identity = service.attach(IdentityClient(settings.identity_url))
        self.auth = SiteAuth(service, self.identity)

    def routers(self) -> list[APIRouter]:
        """Every page router; each checks the CSRF token on any form it takes."""
        site = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)
        site.include_router(info.router(self.pages))
        site.include_router(eligibility.router(self.pages))
        site.include_router(sign_in.router(self.pages, self.auth))
        site.include_router(passwords.router(self.pages, self.identity))
        site.include_router(accounts.router(self.pages, self.identity))
        site.include_router(ordering.router(self.service, self.pages, self.auth))
        site.include_router(your_orders.router(self.service, self.pages, self.auth))
        site.include_router(add_location.router(self.pages, self.auth))
        return [site]
