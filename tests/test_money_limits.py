"""Money at its type's limits, through the real daily flow: exact end to end, or the month fails
naming the user and the month and its marts stay as they were."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

pytestmark = pytest.mark.integration

# A period no other test module loads: September 2022.
END = date(2022, 10, 1)
MONTH, MONTH_END = date(2022, 9, 1), date(2022, 9, 30)
#: The largest crm_payments.amount (numeric(12,2)) and the marts' Decimal(12,2) can hold.
PAYMENT_LIMIT = Decimal("9999999999.99")
#: The largest crm_subscriptions.monthly_cost (numeric(10,2)).
COST_LIMIT = Decimal("99999999.99")
# Cents whose sum a float gets wrong: 0.1 + 0.2 + 0.7 == 0.9999999999999999.
CENTS = (Decimal("0.10"), Decimal("0.20"), Decimal("0.70"))


def _add_user(cur, user_id: int, monthly_cost: Decimal, payments: tuple[Decimal, ...]) -> None:
    """A user of August 2022 with one subscription and successful ``payments`` in September."""
    created = datetime(2022, 8, 1)
    cur.execute(
        "INSERT INTO crm_users (user_id, user_uuid, email, full_name, phone, country, created_at, updated_at) "
        "VALUES (%s, gen_random_uuid(), %s, 'Money Limit', NULL, 'RU', %s, %s)",
        (user_id, f"money.{user_id}@example.com", created, created),
    )
    cur.execute(
        "INSERT INTO crm_subscriptions (subscription_id, user_id, prosthetic_id, plan, monthly_cost, start_date, "
        "end_date, is_active, created_at) VALUES (%s, %s, NULL, 'premium', %s, %s, NULL, true, %s)",
        (user_id, user_id, monthly_cost, created.date(), created),
    )
    for day, amount in enumerate(payments, start=1):
        _pay(cur, user_id, amount, datetime(2022, 9, day, 12))


def _pay(cur, user_id: int, amount: Decimal, at: datetime) -> int:
    cur.execute(
        "INSERT INTO crm_payments (payment_id, user_id, subscription_id, amount, payment_date, status, "
        "payment_method, created_at) "
        "SELECT coalesce(max(payment_id), 0) + 1, %s, %s, %s, %s, 'success', 'card', %s FROM crm_payments "
        "RETURNING payment_id",
        (user_id, user_id, amount, at, at),
    )
    return cur.fetchone()[0]


@pytest.fixture(scope="module")
def seeded(settings, prefect_harness):
    """A small seed plus two users of their own: one paying the limit, one paying cents."""
    from bionicpro.db import pg_connection
    from bionicpro.settings import CRM_DB
    from seed import SeedConfig, seed_database

    seed_database(settings, SeedConfig(users=2, months=1, end_date=END, seed=5))
    with pg_connection(settings, CRM_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT max(user_id), (SELECT max(subscription_id) FROM crm_subscriptions) FROM crm_users")
        base = max(cur.fetchone()) + 100
        rich, cents = base, base + 1
        _add_user(cur, rich, COST_LIMIT, (PAYMENT_LIMIT,))
        _add_user(cur, cents, Decimal("0.01"), CENTS)
    return settings, rich, cents


def _mart(settings, table: str, key: str) -> dict[int, dict]:
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        result = client.query(f"SELECT * FROM reports_db.{table} WHERE report_date = {{m:Date}}",
                              parameters={"m": MONTH})
    rows = [dict(zip(result.column_names, row)) for row in result.result_rows]
    return {row[key]: row for row in rows}


def _marts(settings) -> tuple[dict, dict]:
    return (_mart(settings, "report_user_monthly_metrics", "user_id"),
            _mart(settings, "report_prosthetic_monthly_metrics", "prosthetic_id"))


def test_money_travels_as_decimal_from_postgresql_to_the_mart(seeded):
    """No float anywhere on the way: PostgreSQL numeric is read, staged and summed as Decimal."""
    from bionicpro.db import clickhouse_client
    from bionicpro.settings import WORK
    from tasks.stage import collection_statements

    settings, _, _ = seeded
    with clickhouse_client(settings, WORK) as client:
        if settings.warehouse_uses_chdb(WORK):
            for statement in collection_statements(settings):
                client.command(statement)
        source = {r[0]: r[1] for r in client.query(
            "DESCRIBE TABLE postgresql(bionicpro_crm, table = 'crm_payments')").result_rows}
        work = dict(client.query(
            "SELECT concat(table, '.', name), type FROM system.columns WHERE database = 'bionicpro_work' "
            "AND (table, name) IN (('stage_payments', 'amount'), ('stage_subscriptions', 'monthly_cost'), "
            "('user_mart_candidates', 'total_payments'))").result_rows)
    assert source["amount"] == "Decimal(12, 2)"
    assert work == {"stage_payments.amount": "Decimal(18, 2)", "stage_subscriptions.monthly_cost": "Decimal(18, 2)",
                    "user_mart_candidates.total_payments": "Decimal(38, 2)"}


def test_a_payment_at_the_limit_loads_exactly(seeded):
    from flows.daily import bionicpro_etl_daily

    settings, rich, cents = seeded
    bionicpro_etl_daily(report_date=MONTH_END)
    users, _ = _marts(settings)
    assert (users[rich]["total_payments"], users[rich]["successful_payments"]) == (PAYMENT_LIMIT, PAYMENT_LIMIT)
    assert users[rich]["subscription_cost_total"] == COST_LIMIT
    assert (users[cents]["total_payments"], users[cents]["successful_payments"]) == (Decimal("1.00"), Decimal("1.00"))
    assert all(isinstance(users[rich][c], Decimal) for c in ("total_payments", "subscription_cost_total"))


def test_a_sum_over_the_limit_fails_the_month_naming_user_and_month(seeded):
    from bionicpro.db import clickhouse_client, pg_connection
    from bionicpro.settings import CRM_DB
    from expectations import DataQualityError
    from flows.daily import bionicpro_etl_daily

    settings, rich, _ = seeded
    bionicpro_etl_daily(report_date=MONTH_END)
    before = _marts(settings)
    with pg_connection(settings, CRM_DB) as conn, conn.cursor() as cur:
        second = _pay(cur, rich, PAYMENT_LIMIT, datetime(2022, 9, 20, 12))  # 19999999999.98 in September
    try:
        with pytest.raises(DataQualityError) as failure:
            bionicpro_etl_daily(report_date=MONTH_END)
        named = f"money_fits_column failed: 1 bad row (report_date={MONTH.isoformat()} user_id={rich})"
        assert named in str(failure.value)
        assert _marts(settings) == before
        with clickhouse_client(settings) as client:
            logged = client.query(
                "SELECT status, message FROM reports_db.load_log WHERE report_date = {m:Date} "
                "ORDER BY loaded_at DESC LIMIT 1", parameters={"m": MONTH}).result_rows
        assert logged[0][0] == "failed" and named in logged[0][1]
    finally:
        with pg_connection(settings, CRM_DB) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM crm_payments WHERE payment_id = %s", (second,))
