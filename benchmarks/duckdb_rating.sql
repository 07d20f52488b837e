-- The rating rules of docs/rating.md as DuckDB SQL: the DuckDB baseline of
-- bench_baselines.py. One sheet, band_mode = "start", canonical CDR Parquet in.
--
-- bench_baselines.py (rating_sql) replaces each placeholder (a dollar sign and a name
-- in braces) by a checked literal: settings of the sheet, some of which DuckDB needs
-- at bind time, such as the scale of the charge. Before this script runs, it creates
-- three small tables from the sheet (TOML + CSV):
--
--   sheet_tiers   one row per tier: prefix, band ('' = all bands), eff_from, eff_to
--                 (TIMESTAMPTZ, NULL = open), destination, from_s, increment_s,
--                 unit_s, rate, connect_fee, max_cost (DECIMAL(18, 9)); the
--                 increments = a/b shorthand already expanded into its two tiers
--   band_windows  band, isodow (1 = Monday), from_min, to_min (minutes of the day)
--   holidays      day (DATE)
--
-- The sheet is assumed valid (`cdr-rating sheet check`). The result is the table
-- `outcome`: every input row once, `reason` NULL for a rated call, else parse_error,
-- bad_time, bad_duration, bad_number, duplicate or no_rate.
--
-- Money is DECIMAL throughout. DuckDB turns DECIMAL / DECIMAL into DOUBLE, so nothing
-- is divided: every amount is kept multiplied by the sheet's common unit
-- ${common_unit} (the least common multiple of its unit_s), where rate / unit_s is
-- exactly rate * (common_unit / unit_s), and the one division of the charge, with its
-- rounding, is an integer quotient and remainder on HUGEINT.

-- Rates: the rows (tiers) that share prefix, band and effective window. Connect fee,
-- cap and destination are those of the from_s = 0 row.
CREATE OR REPLACE TEMP TABLE rates AS
SELECT
    row_number() OVER () AS rate_id,
    prefix,
    length(prefix) AS plen,
    band,
    eff_from,
    eff_to,
    any_value(destination) FILTER (WHERE from_s = 0) AS destination,
    any_value(connect_fee) FILTER (WHERE from_s = 0) AS connect_fee,
    any_value(max_cost) FILTER (WHERE from_s = 0) AS max_cost
FROM sheet_tiers
GROUP BY prefix, band, eff_from, eff_to;

-- Tiers: where each starts and the next begins (milliseconds), its increment, and the
-- price of one second times the common unit (exact).
CREATE OR REPLACE TEMP TABLE tiers AS
SELECT
    r.rate_id,
    t.from_s * 1000 AS from_ms,
    lead(t.from_s) OVER (PARTITION BY r.rate_id ORDER BY t.from_s) * 1000 AS to_ms,
    t.increment_s * 1000 AS inc_ms,
    t.increment_s AS inc_s,
    t.rate * (${common_unit} // t.unit_s) AS per_s
FROM sheet_tiers AS t
JOIN rates AS r
    ON r.prefix = t.prefix
    AND r.band = t.band
    AND r.eff_from IS NOT DISTINCT FROM t.eff_from
    AND r.eff_to IS NOT DISTINCT FROM t.eff_to;

-- The band of every minute of the week (0 = Monday 00:00), as a 10,080-row table.
-- Band times are whole minutes, so the band of an instant is that of its minute.
CREATE OR REPLACE TEMP TABLE week AS
SELECT
    m.minute_of_week,
    coalesce(any_value(w.band), ${default_band}) AS band
FROM range(7 * 1440) AS m(minute_of_week)
LEFT JOIN band_windows AS w
    ON w.isodow = m.minute_of_week // 1440 + 1
    AND m.minute_of_week % 1440 >= w.from_min
    AND m.minute_of_week % 1440 < w.to_min
GROUP BY m.minute_of_week;

CREATE OR REPLACE TEMP TABLE outcome AS
WITH raw AS (
    SELECT
        -- Input order: files in the order given, rows in file order, as one number.
        list_position(${files}, filename) * (CAST(1 AS BIGINT) << 40) + file_row_number AS ord,
        file_row_number + 1 AS line,
        coalesce(trim(call_id), '') AS call_id,
        nullif(trim(account), '') AS account,
        trim(caller) AS caller,
        trim(callee) AS callee,
        CAST(start AS TIMESTAMPTZ) AS start,
        duration,
        coalesce(nullif(upper(trim(disposition)), ''), 'ANSWERED') AS disposition,
        -- Number normalisation: "(0)" out as a whole, then spaces and punctuation...
        translate(replace(coalesce(trim(callee), ''), '(0)', ''), ' ' || chr(9) || '-./()', '')
            AS cleaned
    FROM read_parquet(${files}, filename = true, file_row_number = true)
),
typed AS (
    SELECT
        * EXCLUDE (cleaned),
        -- ... then a leading international prefix or "+".
        CASE
            WHEN starts_with(cleaned, ${international_prefix})
                THEN cleaned[${international_prefix_length} + 1:]
            WHEN starts_with(cleaned, '+') THEN cleaned[2:]
            ELSE cleaned
        END AS digits
    FROM raw
),
checked AS (
    SELECT
        * EXCLUDE (digits),
        CASE WHEN regexp_full_match(digits, '[0-9]{1,32}') THEN digits END AS number,
        -- Unanswered calls have nothing to bill.
        CASE WHEN disposition = 'ANSWERED' THEN duration * 1000 ELSE 0 END AS duration_ms,
        CASE
            WHEN call_id = '' THEN 'parse_error'
            WHEN start IS NULL THEN 'bad_time'
            WHEN duration IS NULL OR duration < 0 THEN 'bad_duration'
            WHEN NOT regexp_full_match(digits, '[0-9]{1,32}') THEN 'bad_number'
        END AS parse_reason
    FROM typed
),
-- A repeated call_id is a duplicate: the first good row in input order wins; rows
-- rejected for another reason do not count. Only call_ids that occur more than once
-- are kept here (a hash aggregate), so the join back has a small build side; a
-- row_number() window over all call_ids costs several times more.
repeated AS (
    SELECT call_id, min(ord) AS first_ord
    FROM checked
    WHERE parse_reason IS NULL
    GROUP BY call_id
    HAVING count(*) > 1
),
deduplicated AS (
    SELECT
        c.* EXCLUDE (parse_reason),
        CASE
            WHEN c.parse_reason IS NOT NULL THEN c.parse_reason
            WHEN c.ord > d.first_ord THEN 'duplicate'
        END AS reason
    FROM checked AS c
    LEFT JOIN repeated AS d ON d.call_id = c.call_id AND c.parse_reason IS NULL
),
-- The band at the start, on the sheet's wall clock: a holiday's band on holidays,
-- else the band of the minute of the week.
banded AS (
    SELECT
        c.*,
        CASE
            WHEN CAST(timezone(${timezone}, c.start) AS DATE) IN (SELECT day FROM holidays)
                THEN ${holiday_band}
            ELSE w.band
        END AS band
    FROM deduplicated AS c
    LEFT JOIN week AS w
        ON w.minute_of_week = (isodow(timezone(${timezone}, c.start)) - 1) * 1440
            + hour(timezone(${timezone}, c.start)) * 60
            + minute(timezone(${timezone}, c.start))
),
-- Longest prefix: every leading part of the number that has the length of some sheet
-- prefix (${prefix_lengths}) becomes a row, and those rows are joined with the
-- rates on the prefix text: one hash equi-join. The candidates are the rates that are
-- effective at the start and priced for the call's band or all bands; the longest
-- prefix wins and, for the same prefix, the band's own rate beats the all-bands one.
-- Filtering before choosing makes a shorter prefix apply when a longer one is not in
-- force or has only rows for other bands. (A join on `starts_with(number, prefix)` has
-- no equality to hash on; joining a table of the prefix lengths on
-- `plen <= length(number)` made DuckDB plan a merge join of every call with every rate,
-- 25 times slower on 20,000 calls.) Numbers longer than the longest prefix are matched
-- on their first digits, as the engine does.
prefixes AS (
    SELECT ord, start, band, left(number, plen) AS prefix
    FROM (
        SELECT ord, start, band, number, unnest(${prefix_lengths}) AS plen
        FROM banded
        WHERE reason IS NULL
    )
    WHERE plen <= length(number)
),
best AS (
    SELECT
        c.ord,
        arg_max(r.rate_id, r.plen * 2 + CAST(r.band <> '' AS INTEGER)) AS rate_id
    FROM prefixes AS c
    JOIN rates AS r ON r.prefix = c.prefix
    WHERE
        (r.band = '' OR r.band = c.band)
        AND (r.eff_from IS NULL OR r.eff_from <= c.start)
        AND (r.eff_to IS NULL OR c.start < r.eff_to)
    GROUP BY c.ord
),
matched AS (
    SELECT
        c.* EXCLUDE (reason),
        CASE WHEN c.reason IS NULL AND b.rate_id IS NULL THEN 'no_rate' ELSE c.reason END
            AS reason,
        b.rate_id,
        r.prefix,
        r.destination,
        r.connect_fee,
        r.max_cost
    FROM banded AS c
    LEFT JOIN best AS b ON b.ord = c.ord
    LEFT JOIN rates AS r ON r.rate_id = b.rate_id
),
-- Billed seconds of every tier of a rated call: its used part, up to the next increment.
billed AS (
    SELECT
        c.ord,
        t.per_s,
        CASE
            WHEN c.duration_ms <= ${grace_ms} THEN 0
            ELSE (
                greatest(0, least(c.duration_ms, coalesce(t.to_ms, c.duration_ms)) - t.from_ms)
                + t.inc_ms - 1
            ) // t.inc_ms * t.inc_s
        END AS seconds
    FROM matched AS c
    JOIN tiers AS t ON t.rate_id = c.rate_id
),
usage AS (
    SELECT ord, sum(seconds) AS billable_s, sum(seconds * per_s) AS amount
    FROM billed
    GROUP BY ord
),
priced AS (
    SELECT
        c.*,
        u.billable_s,
        -- The exact charge times the common unit, capped (least() skips a NULL cap).
        least(
            CASE WHEN u.billable_s > 0 THEN c.connect_fee * ${common_unit} ELSE 0 END
                + u.amount,
            c.max_cost * ${common_unit}
        ) AS exact
    FROM matched AS c
    LEFT JOIN usage AS u ON u.ord = c.ord
),
-- Round once: exact / common_unit to ${decimals} decimals, with the sheet's method.
rounded AS (
    SELECT
        *,
        CAST(exact * 1000000000 AS HUGEINT) // ${divisor} AS quotient,
        CAST(exact * 1000000000 AS HUGEINT) % ${divisor} AS remainder
    FROM priced
)
SELECT
    ord,
    line,
    call_id,
    account,
    caller,
    callee,
    number,
    start,
    CAST(duration_ms AS DECIMAL(38, 0)) * CAST(0.001 AS DECIMAL(4, 3)) AS duration_s,
    CAST(billable_s AS BIGINT) AS billable_s,
    ${sheet_id} AS sheet,
    prefix,
    destination,
    band,
    CASE
        WHEN reason IS NULL
            THEN CAST(quotient + (${bump}) AS DECIMAL(38, 0)) * ${step}
    END AS charge,
    ${currency} AS currency,
    disposition,
    reason
FROM rounded;
