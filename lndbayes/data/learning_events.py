"""Learning events: xAPI statements and enrollments.csv rows -> one table of accepted events.

xAPI statements are resolved to employees (actor map, account names), pseudonymised, checked
(unknown learner, duplicate id, voided) and accounted for in the ledger and the rejected rows.
"""

from __future__ import annotations

import sys

from lndbayes.data import xapi
from lndbayes.data.contract import COMPLETE_VERBS, ENROLL_VERBS
from lndbayes.data.profile import tick
from lndbayes.data.sql import pk, q, to_df
from lndbayes.data.xapi_sql import reaction_check_sql

#: the enrollments table: one row per employee and activity, summarising its learning events
ENROLLMENTS_SQL = f"""
    SELECT employee_key, activity_id,
        coalesce(min(timestamp) FILTER (verb IN ({', '.join(map(q, ENROLL_VERBS))})), min(timestamp)) AS enrolled_at,
        min(timestamp) FILTER (verb IN ({', '.join(map(q, COMPLETE_VERBS))})) AS completed_at,
        max(score_scaled) AS score_scaled,
        CASE WHEN bool_or(success) THEN true WHEN bool_or(NOT success) THEN false END AS success,
        avg(reaction) AS reaction
    FROM learning_events GROUP BY employee_key, activity_id ORDER BY employee_key, activity_id"""


def build_learning_events(con, raw_dir, xapi_files, sources, keys, ledger_rows, rejected, progress) -> None:
    """Build temp table ``learning_events`` (accepted events; pseudonymised) and account for the
    xAPI statements (ledger rows, rejected rows)."""
    xapi_view = None
    con.execute("CREATE OR REPLACE TEMP TABLE enr_events (statement_id VARCHAR, employee_key VARCHAR, "
                "verb VARCHAR, activity_id VARCHAR, timestamp TIMESTAMPTZ, score_scaled DOUBLE, success BOOLEAN, "
                "completion BOOLEAN, duration_s DOUBLE, registration VARCHAR, reaction DOUBLE, source VARCHAR, "
                "source_order INTEGER, source_line BIGINT)")
    if xapi_files:
        xapi.create_raw_table(con)
        for i, f in enumerate(xapi_files):
            display = str(f.relative_to(raw_dir))
            n = xapi.load_file(con, f, i, display)
            if progress:
                print(f"ingest: read {display}: {n:,} statements", file=sys.stderr, flush=True)
        tick('xapi parsed')
        con.execute(f"CREATE OR REPLACE TEMP VIEW xapi_p AS {xapi.parsed_view_sql()}")
        # actor map: every accepted actor in its normalised forms (mbox lower-cased; sha1 of mbox)
        if sources["actor_map"]:
            con.execute("""CREATE OR REPLACE TEMP TABLE amap AS
                WITH a AS (SELECT actor, employee_id FROM chk_actor_map WHERE reason IS NULL),
                n AS (
                  SELECT CASE WHEN lower(actor) LIKE 'mailto:%' THEN lower(actor)
                              WHEN regexp_full_match(actor, '[0-9a-fA-F]{40}') THEN 'sha1:' || lower(actor)
                              ELSE actor END AS actor_str, employee_id FROM a
                  UNION ALL SELECT 'sha1:' || sha1(lower(actor)), employee_id FROM a WHERE lower(actor) LIKE 'mailto:%'
                  UNION ALL SELECT 'sha1:' || sha1(actor), employee_id FROM a WHERE lower(actor) LIKE 'mailto:%')
                SELECT actor_str, any_value(employee_id) AS employee_id FROM n GROUP BY actor_str""")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE amap (actor_str VARCHAR, employee_id VARCHAR)")
        resolve = ("coalesce(m.employee_id, CASE WHEN r.actor_kind = 'account' THEN r.account_name END)")
        # each distinct actor is resolved and pseudonymised once (a few thousand rows), then joined
        # to the statements in one join instead of four per statement
        con.execute(f"""CREATE OR REPLACE TEMP TABLE xact0 AS
            SELECT r.actor_str, r.actor_kind, r.account_name, {resolve} AS employee_id
            FROM (SELECT DISTINCT actor_str, actor_kind, account_name FROM xapi_parsed
                  WHERE NOT blank AND actor_str IS NOT NULL) r LEFT JOIN amap m USING (actor_str)""")
        keys.add("SELECT employee_id FROM xact0")
        keys.add("SELECT actor_str FROM xact0")
        con.execute("""CREATE OR REPLACE TEMP TABLE xact AS
            SELECT a.*, pm.pkey AS employee_key, pa.pkey AS actor_key, e.employee_id IS NOT NULL AS known
            FROM xact0 a LEFT JOIN pmap pm ON pm.raw = a.employee_id LEFT JOIN pmap pa ON pa.raw = a.actor_str
            LEFT JOIN (SELECT DISTINCT employee_id FROM employees_ok) e ON e.employee_id = a.employee_id""")
        tick("keys")
        # duplicates and voiding (only when there are any: the common case skips the windows)
        has_dups, has_void = con.execute(
            "SELECT count(statement_id) - count(DISTINCT statement_id), count(*) FILTER (verb = 'voided') "
            "FROM xapi_p WHERE reason IS NULL").fetchone()
        has_dups, has_void = has_dups > 0, has_void > 0
        dup_join, dup_case, void_join, void_case = "", "", "", ""
        if has_dups:
            con.execute("""CREATE OR REPLACE TEMP TABLE xdup AS SELECT * FROM (
                SELECT file_idx, line, first_value(file_idx) OVER w AS ff, first_value(line) OVER w AS fl,
                       row_number() OVER w AS k
                FROM xapi_p WHERE reason IS NULL AND statement_id IS NOT NULL
                WINDOW w AS (PARTITION BY statement_id ORDER BY file_idx, line)) WHERE k > 1""")
            dup_join = "LEFT JOIN xdup d ON d.file_idx = r.file_idx AND d.line = r.line " \
                       "LEFT JOIN xapi_files df ON df.file_idx = d.ff"
            dup_case = ("WHEN d.k IS NOT NULL THEN 'duplicate statement id ' || r.statement_id || ', first at ' || "
                        "df.source_file || ' line ' || d.fl")
        if has_void:
            con.execute("""CREATE OR REPLACE TEMP TABLE xvoid AS SELECT any_value(v.file_idx) AS vf,
                any_value(v.line) AS vl, v.activity_id AS target FROM xapi_p v
                WHERE v.reason IS NULL AND v.verb = 'voided' GROUP BY v.activity_id""")
            void_join = "LEFT JOIN xvoid vd ON vd.target = r.statement_id AND r.verb <> 'voided' " \
                        "LEFT JOIN xapi_files vfile ON vfile.file_idx = vd.vf"
            void_case = ("WHEN r.verb = 'voided' THEN 'voiding statement (applied: the statement it voids is not used)' "
                         "WHEN vd.target IS NOT NULL THEN 'voided by the statement at ' || vfile.source_file || "
                         "' line ' || vd.vl")
        # the actor string almost always identifies the actor alone (one key to hash, not three)
        unique = con.execute("SELECT count(*) = count(DISTINCT actor_str) FROM xact").fetchone()[0]
        actor_join = "" if unique else ("AND x.actor_kind = r.actor_kind "
                                        "AND x.account_name IS NOT DISTINCT FROM r.account_name")
        tick('dups/void checked')
        con.execute(f"""CREATE OR REPLACE TEMP TABLE xapi_c AS
            SELECT r.*, x.employee_id, x.employee_key, x.actor_key, CASE
                WHEN r.reason IS NOT NULL THEN r.reason
                {void_case}
                WHEN x.employee_id IS NULL THEN r.actor_kind || ' actor (key ' || x.actor_key || ') is not in actor_map.csv'
                WHEN NOT x.known THEN 'learner (key ' || x.employee_key || ') is not in employees.csv'
                {dup_case}
                {reaction_check_sql()}
              END AS final_reason
            FROM xapi_p r
            LEFT JOIN xact x ON x.actor_str = r.actor_str {actor_join}
            {dup_join} {void_join}""")
        tick('xapi_c')
        con.execute("DROP TABLE IF EXISTS xapi_parsed CASCADE")
        xapi_view = """SELECT coalesce(statement_id, 'line-' || file_idx || '-' || line) AS statement_id,
                   employee_key, verb, activity_id, timestamp, score_scaled, success, completion, duration_s,
                   registration, reaction, 'xapi' AS source, file_idx AS source_order, line AS source_line
            FROM xapi_c WHERE final_reason IS NULL"""
        led = con.execute("""SELECT f.source_file, f.n, count(c.line) FILTER (c.final_reason IS NULL),
                count(c.line) FILTER (c.final_reason IS NOT NULL)
            FROM xapi_files f LEFT JOIN xapi_c c USING (file_idx) GROUP BY ALL ORDER BY any_value(f.file_idx)""").fetchall()
        for sf, n, ok, bad in led:
            ledger_rows.append({"table": "learning_events", "source_file": sf, "rows_read": n,
                                "rows_accepted": ok, "rows_rejected": bad})
        if sum(r[3] for r in led):
            rejected["learning_events"] = to_df(con.execute("""
                SELECT f.source_file, c.line, c.final_reason AS reason, c.statement_id, c.employee_key,
                       c.actor_key, c.verb_id, c.activity_id, c.timestamp_text AS timestamp
                FROM xapi_c c JOIN xapi_files f USING (file_idx)
                WHERE c.final_reason IS NOT NULL ORDER BY c.file_idx, c.line"""))
    if sources["enrollments"]:
        base = ("SELECT {sid}, " + pk("t.employee_id") + ", {verb}, t.activity_id, {ts}, {score}, {success}, "
                "{completion}, NULL, NULL, {reaction}, 'enrollments', 100000 + t.file_order, 2 * t.line + {order} "
                "FROM chk_enrollments t WHERE t.reason IS NULL{cond}")
        con.execute("INSERT INTO enr_events " + base.format(
            sid="'enr-' || t.line || '-registered'", verb="'registered'", ts="t.t_enrolled_at", order=0,
            score=f"CASE WHEN t.t_completed_at IS NULL THEN t.t_score_scaled END",
            success="CASE WHEN t.t_completed_at IS NULL THEN t.t_success END", completion="NULL",
            reaction="CASE WHEN t.t_completed_at IS NULL THEN t.t_reaction END", cond=""))
        con.execute("INSERT INTO enr_events " + base.format(
            sid="'enr-' || t.line || '-completed'", verb="'completed'", ts="t.t_completed_at", order=1,
            score="t.t_score_scaled", success="t.t_success", completion="true", reaction="t.t_reaction",
            cond=" AND t.t_completed_at IS NOT NULL"))
    con.execute("CREATE OR REPLACE TEMP VIEW learning_events AS "
                + (f"{xapi_view} UNION ALL " if xapi_view else "") + "SELECT * FROM enr_events")
