"""Reporting's store: numbers by day and metric. No column here can hold personal data."""

from sqlalchemy import BigInteger, Column, Date, MetaData, String, Table

metadata = MetaData()

daily_figures = Table(
    "daily_figures",
    metadata,
    Column("day", Date, primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
