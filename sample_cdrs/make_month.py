"""Generate the demo month: October 2026 of traffic, accounts and fees for 250 more customers.

Run from anywhere: ``python sample_cdrs/make_month.py``. ``--check`` writes nothing and
fails when a file on disk differs from what the script would write.

Why: the quick start (``cdr-rating run --period 2026-10 --close``) closes October 2026
and invoices it. The hand-made day ``2026-10-01.csv`` shows every rating rule on three
accounts, but not what a month of a small German VoIP provider looks like: a few hundred
customers, tens of thousands of calls arriving every night from several systems,
allowances used up, minimum commitments, fees that start or end inside the month.
This script makes that month, in ``sample_cdrs/`` (the inbox of the demo configuration;
the inbox is not scanned recursively, so every file sits directly in it):

- ``accounts.csv``: the three hand-made accounts (ACME-001, BETA-002, GAMMA-003) first,
  their rows unchanged, then 250 made-up German-sounding customers. Retail customers
  (``retail-eu``, EUR, 19 % VAT) are in Berlin, Hamburg, Frankfurt, Munich and Cologne
  and own numbers from the blocks the Bundesnetzagentur keeps for film and TV in those
  cities; wholesale resellers (``wholesale-global``, USD, reverse charge) are abroad.
  The last column, ``minimum_commitment``, is new (empty for the hand-made rows).
- ``fees.csv``: the hand-made fees first, unchanged, then monthly and one-off fees; the
  last column, ``prorate``, is new (empty for the hand-made rows).
- ``canonical-2026-10-DD.csv``: the SBC's mediation export (canonical format) for SIP
  trunk customers and half of the resellers.
- ``asterisk-2026-10-DD.csv``: ``Master.csv`` of the cloud PBX (Asterisk ``cdr_csv``,
  18 columns, local times without zone) for the cloud PBX customers.
- ``cgrates-2026-10-DD.csv``: the CGRateS ``*file_csv`` export of the wholesale platform.
- ``asterisk-resend-2026-10-20-<account>.csv``: a re-delivered ``<accountcode>.csv``.

A handful of planted rejects (feature codes, numbers not in ``accounts.csv``, re-delivered
rows, SMS records, a destination missing from the retail sheet, an Asterisk row with
billsec > duration) are listed in ``PLANTED``; everything else rates cleanly.

Deterministic: ``random.Random`` seeded with fixed strings, and only its integer draws
(``randrange``), so no floating point and no platform's maths library is involved; no
clock; every iteration is over sorted or ordered data. The same bytes come out on every
run. Names, addresses and companies are made up; dialled numbers are random digits.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import hashlib
import io
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
SEED = "cdr-rating demo 2026-10"
BERLIN = ZoneInfo("Europe/Berlin")
YEAR, MONTH, DAYS = 2026, 10, 31
HOLIDAYS = (3,)  # German Unity Day, a Saturday in 2026
HAND_MADE = ("ACME-001", "BETA-002", "GAMMA-003")
ACCOUNTS_HEADER = "account,name,sheet,effective_from,tax_rate,numbers,email,address,itemised"
FEES_HEADER = "account,code,description,amount,kind,date,end_date,taxable"
COMMITMENT, PRORATE = "minimum_commitment", "prorate"
GENERATED_PATTERNS = ("canonical-2026-10-*.csv", "asterisk-*2026-10-*.csv", "cgrates-2026-10-*.csv")
RETAIL, WHOLESALE = "retail-eu", "wholesale-global"
SBC, PBX, CGRATES = "sbc", "pbx", "cgrates"  # which system records an account's calls

T = TypeVar("T")


class Weighted(Generic[T]):
    """Items with integer weights, drawn by one integer draw and a binary search."""

    def __init__(self, pairs: Iterable[tuple[T, int]]) -> None:
        self.items: list[T] = []
        self.cumulative: list[int] = []
        total = 0
        for item, weight in pairs:
            if weight > 0:
                total += weight
                self.items.append(item)
                self.cumulative.append(total)


class Draw:
    """Integer-only draws from a generator seeded with ``SEED`` and a label."""

    def __init__(self, label: str) -> None:
        self._random = random.Random(f"{SEED}:{label}")

    def below(self, limit: int) -> int:
        return self._random.randrange(limit)

    def between(self, low: int, high: int) -> int:
        """``low`` to ``high``, both included."""
        return low + self._random.randrange(high - low + 1)

    def chance(self, per_mille: int) -> bool:
        return self._random.randrange(1000) < per_mille

    def pick(self, items: Sequence[T]) -> T:
        return items[self._random.randrange(len(items))]

    def weighted(self, table: Weighted[T]) -> T:
        spot = self._random.randrange(table.cumulative[-1])
        return table.items[bisect.bisect_right(table.cumulative, spot)]

    def digits(self, pattern: str) -> str:
        """``#`` becomes any digit and ``N`` a digit from 2 to 9; the rest is kept."""
        out = []
        for char in pattern:
            if char == "#":
                out.append(str(self._random.randrange(10)))
            elif char == "N":
                out.append(str(2 + self._random.randrange(8)))
            else:
                out.append(char)
        return "".join(out)

    def quantile(self, knots: Sequence[tuple[int, int]]) -> int:
        """A value of the distribution whose inverse CDF is piecewise linear through
        ``knots`` (parts per million, value)."""
        spot = self._random.randrange(1_000_000)
        index = bisect.bisect_right([ppm for ppm, _ in knots], spot) - 1
        (low_ppm, low), (high_ppm, high) = knots[index], knots[index + 1]
        return low + (high - low) * (spot - low_ppm) // (high_ppm - low_ppm)


def table(text: str) -> list[list[str]]:
    """The ``|``-separated rows of a text table (``#`` starts a comment line)."""
    return [
        [cell.strip() for cell in line.split("|")]
        for line in text.strip().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def words(text: str) -> list[str]:
    return text.split()


# --- Call shapes -----------------------------------------------------------------------

# Answered call lengths in seconds: median 77 s, mean about 150 s, one call in a thousand
# longer than an hour (parts per million, seconds).
ANSWERED_SECONDS = (
    (0, 1),
    (30_000, 4),
    (80_000, 9),
    (150_000, 18),
    (250_000, 32),
    (350_000, 48),
    (450_000, 66),
    (550_000, 88),
    (650_000, 118),
    (750_000, 160),
    (850_000, 235),
    (920_000, 360),
    (960_000, 560),
    (985_000, 950),
    (995_000, 1600),
    (999_000, 3000),
    (1_000_000, 7200),
)
# Calls started per hour of the local day (relative weights), by kind of customer.
HOUR_CURVES = table(
    """
    # hour | office weekday | office weekend | service | carrier
    00 | 2 | 3 | 4 | 20
    01 | 1 | 2 | 2 | 12
    02 | 1 | 1 | 1 | 8
    03 | 1 | 1 | 1 | 6
    04 | 1 | 1 | 2 | 6
    05 | 2 | 1 | 5 | 8
    06 | 6 | 2 | 20 | 15
    07 | 20 | 5 | 45 | 30
    08 | 60 | 12 | 70 | 50
    09 | 95 | 20 | 80 | 65
    10 | 100 | 25 | 80 | 75
    11 | 95 | 25 | 75 | 80
    12 | 65 | 22 | 65 | 80
    13 | 75 | 20 | 65 | 80
    14 | 90 | 20 | 70 | 85
    15 | 90 | 20 | 70 | 90
    16 | 80 | 18 | 70 | 95
    17 | 55 | 15 | 65 | 100
    18 | 30 | 12 | 55 | 100
    19 | 18 | 10 | 45 | 95
    20 | 12 | 8 | 35 | 85
    21 | 8 | 6 | 25 | 70
    22 | 5 | 4 | 15 | 50
    23 | 3 | 3 | 8 | 32
    """
)
# Share of a weekday's calls on Saturday, Sunday and holidays (per mille), by kind.
WEEKEND_SHARE = {"office": (140, 60), "service": (700, 600), "carrier": (850, 800)}
DISPOSITIONS = {
    SBC: Weighted([("ANSWERED", 815), ("NO ANSWER", 110), ("BUSY", 45), ("FAILED", 30)]),
    PBX: Weighted(
        [("ANSWERED", 815), ("NO ANSWER", 110), ("BUSY", 45), ("FAILED", 15), ("CONGESTION", 15)]
    ),
    "carrier": Weighted([("ANSWERED", 720), ("NO ANSWER", 160), ("BUSY", 60), ("FAILED", 60)]),
}
RING_SECONDS = {
    "ANSWERED": (2, 20),
    "NO ANSWER": (15, 60),
    "BUSY": (1, 5),
    "FAILED": (0, 2),
    "CONGESTION": (0, 2),
}

# --- Destinations ----------------------------------------------------------------------
# Number patterns are the digits after "+": "#" any digit, "N" 2 to 9.

# German area codes called from anywhere (weight | area code).
AREA_CODES = Weighted(
    (row[1], int(row[0]))
    for row in table(
        """
        8 | 30
        8 | 40
        7 | 69
        7 | 89
        6 | 221
        6 | 211
        6 | 711
        4 | 341
        4 | 351
        4 | 511
        3 | 421
        3 | 231
        3 | 201
        3 | 911
        2 | 228
        2 | 621
        2 | 761
        2 | 431
        1 | 381
        1 | 6131
        1 | 331
        1 | 6221
        """
    )
)
GERMAN_MOBILE = Weighted(
    (row[1], int(row[0]))
    for row in table(
        """
        8 | 49151########
        6 | 49152########
        3 | 49157########
        3 | 49159########
        4 | 49160#######
        3 | 49162#######
        2 | 49163#######
        3 | 49170#######
        4 | 49171#######
        4 | 49172#######
        3 | 49173#######
        2 | 49174#######
        3 | 49175#######
        3 | 49176#######
        2 | 49177#######
        2 | 49178#######
        2 | 49179#######
        1 | 49155########
        1 | 49156########
        """
    )
)
GERMAN_SERVICES = Weighted(
    (row[1], int(row[0]))
    for row in table(
        """
        150 | 49800#######
        70 | 49180N######
        30 | 4932########
        20 | 49700########
        4 | 499001######
        """
    )
)


def destinations(text: str) -> Weighted[tuple[str, tuple[str, ...]]]:
    """A ``weight | country | patterns`` table as weighted (country, patterns)."""
    return Weighted(((row[1], tuple(row[2].split())), int(row[0])) for row in table(text))


# Countries priced by retail-eu, as dialled from German offices.
RETAIL_ABROAD = destinations(
    """
    24 | Austria | 431N###### 43662###### 43664####### 43676####### 43699########
    20 | Switzerland | 4144N###### 4131N###### 4179####### 4176####### 4178#######
    16 | Netherlands | 3120N###### 3110N###### 316########
    16 | France | 33199###### 3363998#### 334N#######
    16 | United Kingdom | 442079460### 441614960### 441134960### 447700900###
    14 | Italy | 3902N####### 3906N####### 39347####### 39333#######
    12 | Spain | 3491N###### 3493N###### 346########
    18 | Poland | 4822N###### 4812N###### 4850####### 4860####### 4888#######
    8 | Czech Republic | 4202######## 42060####### 42073#######
    8 | Belgium | 322N###### 3247#######
    4 | Denmark | 45N#######
    4 | Luxembourg | 3522####### 352621######
    16 | USA and Canada | 1212N###### 1646N###### 1312N###### 1416N######
    12 | Turkey | 90212N###### 90532#######
    2 | Russia | 7495N######
    4 | China | 8610N####### 86139########
    3 | India | 9198########
    2 | Japan | 813N####### 8180########
    2 | Australia | 6125550#### 61491570###
    2 | Brazil | 55119########
    1 | South Africa | 2721N######
    1 | United Arab Emirates | 97150#######
    1 | Nigeria | 234803#######
    """
)
# What resellers send to the wholesale A-Z deck.
WHOLESALE_ABROAD = destinations(
    """
    60 | India | 9198######## 9197######## 9189######## 9170######## 9111N#######
    40 | Pakistan | 9230######## 9231######## 9234######## 9221N#######
    30 | Bangladesh | 88017######## 88019######## 88018########
    30 | Nigeria | 234803####### 234806####### 234813####### 234703####### 2341N######
    15 | Ghana | 23324####### 23354####### 23320#######
    15 | Kenya | 25472####### 25471#######
    25 | Philippines | 63917####### 63918####### 6328#######
    12 | Vietnam | 8490####### 8498####### 8424N######
    20 | Mexico | 5255N####### 5281N####### 5233N#######
    25 | USA | 1212N###### 1305N###### 1713N###### 1415N###### 1646N######
    15 | United Kingdom | 447700900### 4420N####### 4479########
    20 | Turkey | 90532####### 90542####### 90212N######
    12 | Romania | 4072####### 4074####### 4021N######
    12 | Poland | 4850####### 4860####### 4822N######
    12 | Egypt | 2010######## 2012######## 202N#######
    10 | Morocco | 2126######## 21252#######
    10 | Brazil | 55119######## 5521N#######
    10 | China | 86138######## 8610N#######
    8 | Indonesia | 62812######## 6221N#######
    10 | Ukraine | 38050####### 38067####### 38044N######
    6 | Colombia | 57300####### 57310#######
    5 | Russia | 7916####### 7495N######
    15 | Germany | 49151######## 49171####### 4930N####### 4989N#######
    4 | Afghanistan | 9370####### 9379#######
    5 | Sri Lanka | 9477####### 9471#######
    4 | Nepal | 97798########
    4 | Cuba | 535#######
    5 | Dominican Republic | 1809N###### 1829N######
    5 | Serbia | 38164####### 38163#######
    4 | Bosnia and Herzegovina | 38761###### 38765######
    4 | Albania | 35569#######
    3 | Kosovo | 38344######
    4 | Iraq | 964770####### 964750#######
    3 | Lebanon | 96170######
    3 | Ethiopia | 2519########
    3 | Senegal | 22177#######
    3 | Cameroon | 2376########
    3 | Cote d'Ivoire | 22507########
    3 | Tunisia | 21620######
    1 | Inmarsat | 8707########
    """
)


# --- Customers -------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    """Where a retail customer sits, and its block of fictitious numbers (000-999)."""

    name: str
    area: str  # national area code, e.g. "30"
    block: str  # the digits before the last three, e.g. "493023125"
    postcodes: tuple[str, ...]
    streets: tuple[str, ...]


CITIES = tuple(
    City(row[0], row[1], row[2], tuple(row[3].split()), tuple(s.strip() for s in row[4].split(";")))
    for row in table(
        """
        Berlin | 30 | 493023125 | 10115 10117 10178 10243 10405 10551 10623 10719 10785 12043 \
12099 12435 13353 13597 14050 14199 | Torstraße; Kurfürstendamm; Greifswalder Straße; \
Sonnenallee; Karl-Marx-Allee; Oranienstraße; Hermannstraße; Schönhauser Allee; \
Prenzlauer Allee; Alt-Moabit; Storkower Straße; Landsberger Allee; Wilhelminenhofstraße
        Hamburg | 40 | 494066969 | 20095 20354 20457 20459 21073 22041 22083 22297 22335 22525 \
22607 22767 | Mönckebergstraße; Spaldingstraße; Wandsbeker Chaussee; Osterstraße; \
Billstraße; Steindamm; Lehmweg; Stresemannstraße; Hammerbrookstraße; Grindelallee; \
Holsteiner Chaussee
        Frankfurt am Main | 69 | 496990009 | 60306 60311 60313 60314 60323 60386 60486 60528 \
60549 65929 65933 | Mainzer Landstraße; Hanauer Landstraße; Berger Straße; \
Eschersheimer Landstraße; Kaiserstraße; Schweizer Straße; Lyoner Straße; Gutleutstraße; \
Oskar-von-Miller-Straße; Eschborner Landstraße
        München | 89 | 498999998 | 80331 80335 80339 80469 80636 80797 80939 81241 81369 81541 \
81677 81829 | Leopoldstraße; Landsberger Straße; Sonnenstraße; Rosenheimer Straße; \
Lindwurmstraße; Ingolstädter Straße; Dachauer Straße; Schleißheimer Straße; Balanstraße; \
Frankfurter Ring; Arnulfstraße
        Köln | 221 | 492214710 | 50667 50668 50670 50672 50733 50823 50933 50996 51063 51105 \
51149 | Aachener Straße; Venloer Straße; Hohenzollernring; Deutzer Freiheit; Neusser Straße; \
Vogelsanger Straße; Bonner Straße; Dürener Straße; Mathias-Brüggen-Straße; Ehrenfeldgürtel
        """
    )
)
CITY_WEIGHTS = Weighted(zip(CITIES, (26, 20, 18, 20, 16), strict=True))


@dataclass(frozen=True)
class Abroad:
    """Where a reseller sits: country, legal forms, phone numbers and addresses."""

    city: str
    forms: tuple[str, ...]
    numbers: str  # pattern of the reseller's numbers
    addresses: tuple[str, ...]  # with {no} for the house number


ABROAD = Weighted(
    (
        Abroad(
            row[1], tuple(row[2].split(";")), row[3], tuple(a.strip() for a in row[4].split(";"))
        ),
        int(row[0]),
    )
    for row in table(
        """
        8 | Wien | GmbH;GmbH;AG;GmbH & Co KG | 431N###### | Mariahilfer Straße {no}, 1070 Wien, \
Austria; Wiedner Hauptstraße {no}, 1040 Wien, Austria; Handelskai {no}, 1200 Wien, Austria; \
Erdberger Lände {no}, 1030 Wien, Austria; Wagramer Straße {no}, 1220 Wien, Austria
        2 | Graz | GmbH | 43316N##### | Annenstraße {no}, 8020 Graz, Austria; \
Conrad-von-Hötzendorf-Straße {no}, 8010 Graz, Austria
        6 | Zürich | AG;GmbH | 4144N###### | Hardturmstrasse {no}, 8005 Zürich, Switzerland; \
Badenerstrasse {no}, 8004 Zürich, Switzerland; Thurgauerstrasse {no}, 8050 Zürich, Switzerland
        2 | Basel | AG | 4161N###### | Güterstrasse {no}, 4053 Basel, Switzerland; \
Aeschenvorstadt {no}, 4051 Basel, Switzerland
        2 | Vaduz | AG;Anstalt | 4232###### | Äulestrasse {no}, 9490 Vaduz, Liechtenstein; \
Landstrasse {no}, 9490 Vaduz, Liechtenstein
        3 | Luxembourg | S.à r.l.;S.A. | 3522####### | {no}, Route d'Esch, L-1470 Luxembourg, \
Luxembourg; {no}, Rue de Hollerich, L-1741 Luxembourg, Luxembourg
        2 | Bozen | GmbH | 390471###### | Galvanistraße {no}, 39100 Bozen, Italy; \
Schlachthofstraße {no}, 39100 Bozen, Italy
        3 | Amsterdam | B.V. | 3120N###### | Herengracht {no}, 1016 BR Amsterdam, Netherlands; \
Joan Muyskenweg {no}, 1096 CJ Amsterdam, Netherlands
        4 | London | Ltd | 442079460### | {no} Tabernacle Street, London EC2A 4LU, United Kingdom; \
{no} Marsh Wall, London E14 9SH, United Kingdom
        2 | Dublin | Ltd | 3531N###### | {no} Grand Canal Quay, Dublin D02 VP48, Ireland; \
{no} Thomas Street, Dublin D08 T6YA, Ireland
        2 | Praha | s.r.o. | 4202######## | Radlická {no}, 150 00 Praha 5, Czech Republic; \
Karolinská {no}, 186 00 Praha 8, Czech Republic
        2 | New York | Inc.;LLC | 121255501## | {no} Hudson Street, New York, NY 10013, USA; \
{no} 7th Avenue, New York, NY 10001, USA
        """
    )
)

SURNAMES = words(
    """
Albers Ahrens Baumgart Behrendt Böttcher Brandt Brinkmann Brückner Conrad Dittmann Dreyer
Ebeling Eckhardt Engelhardt Falkenberg Feldmann Friese Fröhlich Gerlach Gottschalk Grabowski
Haase Hackl Hansen Heinemann Hellwig Hildebrandt Holtkamp Husemann Jacobs Jansen Kaltenbach
Kempf Kessler Kirchner Klostermann Kranz Kröger Kuhlmann Landgraf Lindner Lorenzen Lüders
Marquardt Matthiesen Menzel Mertens Moritz Nagel Niehaus Nowak Oberländer Olbrich Pape
Petersen Petzold Rademacher Rasmussen Rausch Reinhardt Reuter Riedel Ritter Rohde Sander
Scharf Schilling Schönfeld Seifert Siebert Sommerfeld Stahl Steinbach Strauß Tewes Thiele
Timm Uhlig Urban Vogler Vollmer Voss Walther Wendt Wenzel Westphal Wiese Winkelmann Witte
Wolters Zander Ziegler Zöllner
"""
)
FIRST_NAMES = words(
    """
Anna Ben Carla David Elena Felix Greta Hannes Ida Jonas Katrin Lars Lena Lukas Marie Moritz
Nina Ole Paula Philipp Rieke Sebastian Sophie Stefan Tanja Tim Ulrike Vincent Wiebke Yannick
Zoe Andreas Birgit Claudia Dirk Frank Heike Jens Kerstin Matthias Petra Sabine Thomas Uwe
"""
)
ROOTS = words(
    """
Elb Spree Isar Main Alster Havel Taunus Harz Eifel Ruhr Weser Mosel Neckar Lech Ammer Linden
Eichen Birken Tannen Kranich Falken Möwen Hanse Nordwind Sonnen Stern Brücken Turm Hafen Dom
Kontor Fleet Deich Heide Auen Ufer Kiefern Lerchen
"""
)
ROOT_ENDINGS = words("blick werk tal hof feld haus stein brück wald quelle berg land ring grund")
# branch | customer kind (office or service: open evenings and weekends)
BRANCHES = [
    (row[0], row[1])
    for row in table(
        """
        Logistik | office
        Spedition | office
        Immobilien | office
        Haustechnik | office
        Elektrotechnik | office
        Maschinenbau | office
        Metallbau | office
        Zahntechnik | office
        Druckerei | office
        Medien | office
        Werbeagentur | office
        Softwareentwicklung | office
        IT-Service | office
        Gebäudereinigung | service
        Sanitär | office
        Dachdeckerei | office
        Reisebüro | office
        Catering | service
        Feinkost | service
        Weinhandel | office
        Möbelhandel | office
        Optik | office
        Versicherungsmakler | office
        Personalservice | office
        Sicherheitsdienst | service
        Tischlerei | office
        Gartenbau | office
        Verlag | office
        Übersetzungen | office
        Eventtechnik | service
        Messebau | office
        Bauunternehmung | office
        Vermessung | office
        Labortechnik | office
        Großhandel | office
        Kfz-Technik | office
        """
    )
]
LEGAL_FORMS = Weighted(
    [
        ("GmbH", 55),
        ("GmbH & Co. KG", 14),
        ("KG", 5),
        ("AG", 4),
        ("e.K.", 8),
        ("OHG", 3),
        ("UG (haftungsbeschränkt)", 7),
    ]
)
# Names of practices, hotels and the like: (pattern, kind); {s}, {t} surnames, {r} a root.
PROFESSIONAL = [
    ("Rechtsanwälte {s} & {t} PartG mbB", "office"),
    ("Steuerberatung {s} & {t} PartG mbB", "office"),
    ("Zahnarztpraxis Dr. {s}", "office"),
    ("Praxis für Physiotherapie {s}", "office"),
    ("Architekturbüro {s}", "office"),
    ("Autohaus {s} e.K.", "office"),
    ("Hotel {r}", "service"),
    ("Pflegedienst {r} gGmbH", "service"),
    ("Ingenieurbüro {s} & {t} PartG mbB", "office"),
]
CARRIER_WORDS = words("Telekom Telecom Voice Carrier Connect Interconnect Networks Kommunikation")
CARRIER_ROOTS = words(
    """
Alpenfunk Donauwelle Tauernlink Gletscher Edelweiss Enzian Säntis Rigiblick Pilatus Moselnet
Rheinbrücke Nordsee Bergkristall Arlberg Wachau Bodensee Karwendel Silvretta Grossglockner
Jungfrau Zugspitz Ostwind Lorelei Tirol Vorarlberg Drau Inntal Saane Limmat Aare Seeland
Schwarzwald Engadin Hochkönig Dachstein Salzach Rätikon Gotthard Brenner Semmering
"""
)
EMAIL_BOXES = words("rechnung rechnungen buchhaltung billing finanzen verwaltung office accounting")
FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def ascii_fold(text: str) -> str:
    return text.translate(FOLD).replace("é", "e").replace("à", "a").replace("ô", "o")


def slug(text: str) -> str:
    """Lower-case ASCII words joined by hyphens (for e-mail domains)."""
    parts = "".join(c if c.isalnum() else " " for c in ascii_fold(text).lower()).split()
    return "-".join(parts)


@dataclass
class Version:
    """One row of an account in accounts.csv: the plan from ``effective_from`` on."""

    effective_from: str
    name: str
    address: str
    numbers: tuple[str, ...]


@dataclass
class Fee:
    code: str
    description: str
    cents: int
    kind: str  # monthly | once
    date: str
    end_date: str = ""
    prorate: str = ""  # "", "true", "false"


@dataclass
class Account:
    account_id: str
    sheet: str
    email: str
    itemised: bool
    versions: list[Version]
    platform: str
    kind: str  # office | service | carrier
    tier: str
    calls: int
    abroad_per_mille: int
    home_area: str = ""
    city: City | None = None
    commitment: str = ""
    first_day: int = 1
    last_day: int = DAYS
    by_caller: bool = False  # the SBC export leaves the account empty: found by caller
    focus: Weighted[tuple[str, tuple[str, ...]]] | None = None
    users: dict[str, str] = field(default_factory=dict)
    fees: list[Fee] = field(default_factory=list)
    story: str = ""
    regular_fees: str = "all"  # all | none | no-trunk

    def numbers_on(self, day: int) -> tuple[str, ...]:
        date = f"{YEAR}-{MONTH:02d}-{day:02d}"
        return [v for v in self.versions if v.effective_from <= date][-1].numbers


class NumberPool:
    """Hands out numbers nobody else has: blocks of ten in the fictitious city ranges."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)
        self.next_block = {city.block: 1 for city in CITIES}

    def block(self, city: City, size: int) -> list[str]:
        """The first ``size`` numbers of the next free blocks of ten (``size`` <= 20)."""
        blocks = (size + 9) // 10
        while True:
            first = self.next_block[city.block]
            if first + blocks > 99:
                raise SystemExit(f"make_month: the {city.name} number range is full")
            self.next_block[city.block] = first + blocks
            numbers = [f"+{city.block}{first * 10 + i:03d}" for i in range(blocks * 10)]
            if not self.taken.intersection(numbers):
                self.taken.update(numbers)
                return numbers[:size]

    def series(self, draw: Draw, pattern: str, size: int) -> list[str]:
        """``size`` consecutive numbers from a random start that fits ``pattern``."""
        while True:
            start = draw.digits(pattern)
            fixed = pattern.index("#") if "#" in pattern else len(pattern)
            numbers = [f"+{int(start) + i}" for i in range(size)]
            fits = all(n[1 : fixed + 1] == start[:fixed] for n in numbers)
            if fits and not self.taken.intersection(numbers):
                self.taken.update(numbers)
                return numbers


# --- The hand-made accounts, and the 250 generated ones ---------------------------------


def read_hand_made(path: Path, header: str, column: str) -> list[str]:
    """The hand-made rows of ``path``, as written, with one empty cell for ``column``
    unless the file has it already."""
    lines = path.read_text(encoding="utf-8").splitlines()
    has_column = lines[0] == f"{header},{column}"
    if not has_column and lines[0] != header:
        raise SystemExit(f"make_month: {path.name}: unexpected header {lines[0]!r}")
    rows = [line for line in lines[1:] if line.split(",", 1)[0] in HAND_MADE]
    return rows if has_column else [f"{row}," for row in rows]


def hand_made_accounts(rows: list[str]) -> list[Account]:
    """The three hand-made accounts, with the traffic they get from 2026-10-03 on
    (their first two days are in 2026-10-01.csv)."""
    versions: dict[str, list[Version]] = {}
    for cells in csv.reader(rows):
        version = Version(cells[3], cells[1], cells[7], tuple(cells[5].split()))
        versions.setdefault(cells[0], []).append(version)
    berlin, hamburg = CITIES[0], CITIES[1]
    acme = Account(
        account_id="ACME-001",
        sheet=RETAIL,
        email="",
        itemised=True,
        versions=versions["ACME-001"],
        platform=SBC,
        kind="office",
        tier="heavy",
        calls=1100,
        abroad_per_mille=40,
        home_area=berlin.area,
        city=berlin,
        first_day=3,
    )
    beta = Account(
        account_id="BETA-002",
        sheet=RETAIL,
        email="",
        itemised=True,
        versions=versions["BETA-002"],
        platform=PBX,
        kind="office",
        tier="medium",
        calls=320,
        abroad_per_mille=180,
        home_area=hamburg.area,
        city=hamburg,
        first_day=3,
    )
    gamma = Account(
        account_id="GAMMA-003",
        sheet=WHOLESALE,
        email="",
        itemised=False,
        versions=versions["GAMMA-003"],
        platform=CGRATES,
        kind="carrier",
        tier="medium",
        calls=650,
        abroad_per_mille=1000,
        first_day=3,
    )
    gamma.focus = focus_countries(Draw("focus:GAMMA-003"))
    for account in (acme, beta):
        add_users(account, Draw(f"users:{account.account_id}"))
    return [acme, beta, gamma]


# tier | retail or wholesale | accounts | calls in the month (low, high)
TIERS = [
    (row[0], row[1], int(row[2]), int(row[3]), int(row[4]))
    for row in table(
        """
        dormant | retail | 8 | 0 | 12
        small | retail | 150 | 12 | 110
        medium | retail | 48 | 150 | 420
        heavy | retail | 6 | 750 | 1500
        dormant | wholesale | 1 | 5 | 20
        small | wholesale | 20 | 40 | 200
        medium | wholesale | 14 | 250 | 550
        large | wholesale | 3 | 700 | 1000
        """
    )
]
NUMBERS_PER_TIER = {"dormant": (1, 3), "small": (1, 6), "medium": (4, 12), "heavy": (10, 20)}
TRUNK_CHANNELS = {"dormant": (2,), "small": (2, 4), "medium": (4, 10), "heavy": (20, 30)}
TRUNK_CENTS = {2: 790, 4: 1290, 10: 1990, 20: 3490, 30: 4990}


def focus_countries(draw: Draw) -> Weighted[tuple[str, tuple[str, ...]]]:
    """A reseller's own mix: a few countries it specialises in, on top of the world."""
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for _ in range(draw.between(3, 6)):
        country = draw.weighted(WHOLESALE_ABROAD)
        if country not in chosen:
            chosen.append(country)
    return Weighted((country, 100 // (rank + 1)) for rank, country in enumerate(chosen))


def add_users(account: Account, draw: Draw) -> None:
    """The person behind each cloud PBX number (shown in the Asterisk caller ID)."""
    for version in account.versions:
        for number in version.numbers:
            if number not in account.users:
                account.users[number] = f"{draw.pick(FIRST_NAMES)} {draw.pick(SURNAMES)}"


def company_name(draw: Draw, used: set[str]) -> tuple[str, str, str]:
    """A made-up retail customer: (name, the word its id is made of, kind)."""
    while True:
        style = draw.below(100)
        surname, other = draw.pick(SURNAMES), draw.pick(SURNAMES)
        root = draw.pick(ROOTS) + draw.pick(ROOT_ENDINGS)
        branch, kind = draw.pick(BRANCHES)
        form = draw.weighted(LEGAL_FORMS)
        if style < 40:
            name, token = f"{surname} {branch} {form}", surname
        elif style < 52 and surname != other:
            name, token = f"{surname} & {other} {branch} {form}", surname
        elif style < 85:
            name, token = f"{root} {branch} {form}", root
        else:
            pattern, kind = draw.pick(PROFESSIONAL)
            if surname == other:
                continue
            name = pattern.format(s=surname, t=other, r=root)
            token = root if "{r}" in pattern else surname
        if name not in used:
            used.add(name)
            return name, token, kind


def reseller_name(draw: Draw, where: Abroad, used: set[str]) -> tuple[str, str]:
    while True:
        root = draw.pick(CARRIER_ROOTS)
        name = f"{root} {draw.pick(CARRIER_WORDS)} {draw.pick(where.forms)}"
        if name not in used and not any(n.startswith(f"{root} ") for n in used):
            used.add(name)
            return name, root


def account_id(token: str, serial: int) -> str:
    letters = "".join(c for c in ascii_fold(token).upper() if c.isalpha())
    return f"{letters[:12]}-{serial:03d}"


def since_date(draw: Draw) -> str:
    """First of a month between 2018-01 and 2026-09: when the customer signed."""
    months = draw.below(8 * 12 + 9)
    return f"{2018 + months // 12}-{months % 12 + 1:02d}-01"


def generated_accounts(pool: NumberPool) -> list[Account]:
    draw = Draw("accounts")
    slots = [(tier, market) for tier, market, count, _, _ in TIERS for _ in range(count)]
    draw_order = [(draw.below(1 << 30), index) for index in range(len(slots))]
    slots = [slots[index] for _, index in sorted(draw_order)]
    used: set[str] = set()
    accounts = []
    for serial, (tier, market) in enumerate(slots, start=4):
        low, high = next((lo, hi) for t, m, _, lo, hi in TIERS if (t, m) == (tier, market))
        calls = draw.between(low, high)
        if market == "retail":
            accounts.append(retail_account(draw, pool, used, serial, tier, calls))
        else:
            accounts.append(reseller_account(draw, pool, used, serial, tier, calls))
    return accounts


def retail_account(
    draw: Draw, pool: NumberPool, used: set[str], serial: int, tier: str, calls: int
) -> Account:
    name, token, kind = company_name(draw, used)
    city = draw.weighted(CITY_WEIGHTS)
    size = draw.between(*NUMBERS_PER_TIER[tier])
    address = f"{draw.pick(city.streets)} {draw.between(1, 180)}, {draw.pick(city.postcodes)} "
    address += f"{city.name}, Germany"
    version = Version(since_date(draw), name, address, tuple(pool.block(city, size)))
    domain = slug(name.split(" GmbH")[0].split(" PartG")[0].removesuffix(" e.K."))
    abroad = {"heavy": 40, "dormant": 100}.get(tier) or draw.pick((30, 80, 80, 150, 150, 250))
    account = Account(
        account_id=account_id(token, serial),
        sheet=RETAIL,
        email=f"{draw.pick(EMAIL_BOXES)}@{domain}.example",
        itemised=draw.chance(400),
        versions=[version],
        platform=PBX if draw.chance(300) else SBC,
        kind=kind,
        tier=tier,
        calls=calls,
        abroad_per_mille=abroad,
        home_area=city.area,
        city=city,
    )
    if account.platform == PBX:
        add_users(account, Draw(f"users:{account.account_id}"))
    return account


def reseller_account(
    draw: Draw, pool: NumberPool, used: set[str], serial: int, tier: str, calls: int
) -> Account:
    where = draw.weighted(ABROAD)
    name, token = reseller_name(draw, where, used)
    numbers = pool.series(draw, where.numbers, draw.between(2, 10))
    address = draw.pick(where.addresses).format(no=draw.between(1, 120))
    version = Version(since_date(draw), name, address, tuple(numbers))
    domain = slug(name.rsplit(" ", 1)[0] if " " in name else name)
    account = Account(
        account_id=account_id(token, serial),
        sheet=WHOLESALE,
        email=f"{draw.pick(EMAIL_BOXES)}@{domain}.example",
        itemised=draw.chance(100),
        versions=[version],
        platform=CGRATES if draw.chance(500) else SBC,
        kind="carrier",
        tier=tier,
        calls=calls,
        abroad_per_mille=1000,
    )
    account.focus = focus_countries(Draw(f"focus:{account.account_id}"))
    return account


# --- What makes the month interesting ----------------------------------------------------


def first(accounts: list[Account], taken: set[str], **wanted: object) -> Account:
    """The first account (in id order) with these attributes that has no story yet."""
    for account in accounts:
        if account.account_id not in taken and all(
            getattr(account, key) == value for key, value in wanted.items()
        ):
            taken.add(account.account_id)
            return account
    raise SystemExit(f"make_month: no account left with {wanted}")


def october(day: int) -> str:
    return f"{YEAR}-{MONTH:02d}-{day:02d}"


def add_stories(accounts: list[Account], pool: NumberPool) -> None:
    """Plan changes, new and leaving customers, commitments, upgrades: the cases an
    invoice run has to get right. Each sets ``story`` (the README lists them)."""
    taken: set[str] = set()

    def commit(amount: str, **wanted: object) -> None:
        account = first(accounts, taken, **wanted)
        account.commitment = amount
        account.story = f"minimum commitment {amount}"

    for amount in ("25.00", "50.00", "50.00", "75.00", "100.00"):
        commit(amount, tier="dormant", sheet=RETAIL)
    commit("30.00", tier="medium", sheet=RETAIL)
    commit("50.00", tier="heavy", sheet=RETAIL)
    commit("500.00", tier="dormant", sheet=WHOLESALE)
    commit("250.00", tier="medium", sheet=WHOLESALE)
    commit("100.00", tier="large", sheet=WHOLESALE)

    moving = first(accounts, taken, tier="small", sheet=RETAIL, platform=SBC)
    old = moving.versions[0]
    city = moving.city or CITIES[0]
    new_address = f"{city.streets[-1]} 7, {city.postcodes[-1]} {city.name}, Germany"
    moving.versions.append(Version(october(19), old.name, new_address, old.numbers))
    moving.fees.append(
        Fee("MOVE", "Relocation of the line to the new address", 3900, "once", october(19))
    )
    moving.story = "moves office on 2026-10-19 (new address from then on)"

    renamed = first(accounts, taken, tier="small", sheet=RETAIL, platform=PBX)
    old = renamed.versions[0]
    new_name = old.name.replace(" UG (haftungsbeschränkt)", " GmbH")
    if new_name == old.name:
        new_name = old.name.rsplit(" ", 1)[0] + " GmbH & Co. KG"
    renamed.versions.append(Version(october(22), new_name, old.address, old.numbers))
    renamed.story = f"renamed {new_name!r} on 2026-10-22"

    growing = first(accounts, taken, tier="medium", sheet=RETAIL, platform=SBC)
    old = growing.versions[0]
    added = pool.block(growing.city or CITIES[0], 10)
    growing.versions.append(Version(october(12), old.name, old.address, (*old.numbers, *added)))
    growing.fees.append(
        Fee(
            "DID-BLOCK-2",
            f"Second {(growing.city or CITIES[0]).name} number block (10 numbers)",
            500,
            "monthly",
            october(12),
            prorate="true",
        )
    )
    growing.story = "10 more numbers from 2026-10-12 (prorated number block fee)"

    reseller = first(accounts, taken, tier="medium", sheet=WHOLESALE)
    old = reseller.versions[0]
    more = pool.series(Draw("more-numbers"), "442079460###", 4)
    reseller.versions.append(Version(october(15), old.name, old.address, (*old.numbers, *more)))
    reseller.story = "adds four London numbers on 2026-10-15"

    for day, platform, tier, prorate in ((12, SBC, "small", "true"), (19, PBX, "medium", "true")):
        new = first(accounts, taken, tier=tier, sheet=RETAIL, platform=platform)
        new.versions[0].effective_from = october(day)
        new.first_day = day
        new.calls = new.calls * (DAYS - day + 1) // DAYS
        new.fees.append(Fee("SETUP", "One-off setup fee", 4900, "once", october(day)))
        new.story = f"new customer from {october(day)} (monthly fees prorated: {prorate})"
        new.regular_fees = "none"
        new.fees.extend(monthly_fees(new, october(day), prorate=prorate))
    new = first(accounts, taken, tier="small", sheet=WHOLESALE)
    new.versions[0].effective_from = october(5)
    new.first_day = 5
    new.fees.append(Fee("SETUP", "Interconnect setup and testing", 25000, "once", october(5)))
    new.fees.extend(monthly_fees(new, october(5), prorate="false"))
    new.story = "new reseller from 2026-10-05 (monthly fees not prorated: prorate false)"
    new.regular_fees = "none"

    for day, platform, prorate in ((20, SBC, "true"), (9, PBX, "false")):
        leaving = first(accounts, taken, tier="small", sheet=RETAIL, platform=platform)
        leaving.last_day = day
        leaving.calls = leaving.calls * day // DAYS
        leaving.fees.extend(
            monthly_fees(
                leaving, leaving.versions[0].effective_from, end=october(day), prorate=prorate
            )
        )
        leaving.story = f"contract ends {october(day)} (monthly fees prorated: {prorate})"
        leaving.regular_fees = "none"

    upgrade = first(accounts, taken, tier="medium", sheet=RETAIL, platform=SBC)
    since = upgrade.versions[0].effective_from
    upgrade.fees += [
        Fee(
            "TRUNK-4",
            "SIP trunk, 4 channels",
            TRUNK_CENTS[4],
            "monthly",
            since,
            october(15),
            "true",
        ),
        Fee(
            "TRUNK-10",
            "SIP trunk, 10 channels",
            TRUNK_CENTS[10],
            "monthly",
            october(16),
            prorate="true",
        ),
    ]
    upgrade.story = "SIP trunk upgraded from 4 to 10 channels on 2026-10-16 (both prorated)"
    upgrade.regular_fees = "no-trunk"

    fair = first(accounts, taken, tier="medium", sheet=RETAIL, platform=SBC)
    fair.fees.append(
        Fee(
            "TRADE-FAIR",
            "Temporary SIP trunk for the trade fair stand, 10 channels",
            1990,
            "monthly",
            october(10),
            october(20),
            "true",
        )
    )
    fair.story = "temporary trunk 2026-10-10 to 2026-10-20 (prorated, 11 of 31 days)"

    by_caller = Draw("by-caller")
    for account in accounts:
        found_by_caller = by_caller.chance(100)
        account.by_caller = found_by_caller and account.platform == SBC and account.sheet == RETAIL


def monthly_fees(account: Account, since: str, end: str = "", prorate: str = "") -> list[Fee]:
    """The recurring fees of an account's products, running from ``since`` to ``end``."""
    draw = Draw(f"fees:{account.account_id}")
    numbers = len(account.versions[0].numbers)
    fees: list[Fee] = []

    def monthly(code: str, description: str, cents: int) -> None:
        fees.append(Fee(code, description, cents, "monthly", since, end, prorate))

    if account.sheet == WHOLESALE:
        if account.platform == CGRATES:
            if draw.chance(500):
                monthly("PORT-100M", "Wholesale interconnect port (100 Mbit/s)", 7500)
            else:
                monthly("PORT-1G", "Wholesale interconnect port (1 Gbit/s)", 15000)
            if draw.chance(300):
                monthly("XCONNECT", "Cross-connect, Frankfurt data centre", 9000)
        elif draw.chance(500):
            monthly("SIP-IC-60", "SIP interconnect, 60 channels", 6000)
        else:
            monthly("SIP-IC-120", "SIP interconnect, 120 channels", 11000)
        return fees
    if account.platform == PBX:
        monthly("PBX-BASE", "Cloud PBX base fee", 990)
        monthly("PBX-SEAT", f"Cloud PBX seats, {numbers} users at 4.50", 450 * numbers)
        if draw.chance(400):
            phones = draw.between(1, numbers)
            monthly("PHONE-RENT", f"Desk phone rental, {phones} units at 3.50", 350 * phones)
    else:
        channels = draw.pick(TRUNK_CHANNELS[account.tier])
        monthly(f"TRUNK-{channels}", f"SIP trunk, {channels} channels", TRUNK_CENTS[channels])
        if account.tier == "heavy":
            monthly("TRUNK-BACKUP", "Second SIP trunk for failover", 990)
    if numbers > 1 and account.city is not None:
        size = 10 * ((numbers + 9) // 10)
        monthly("DID-BLOCK", f"{account.city.name} number block ({size} numbers)", 50 * size)
    if draw.chance(200):
        monthly("FAX2MAIL", "Fax to e-mail", 290)
    if draw.chance(100):
        monthly("SLA-PLUS", "Service level Plus (4 h response)", 2900)
    return fees


def add_fees(accounts: list[Account]) -> None:
    """Monthly fees for accounts without a story about them, and the odd one-off fee."""
    draw = Draw("fees")
    for account in accounts:
        if account.regular_fees == "none":
            continue
        small = not account.story and account.tier == "small" and account.sheet == RETAIL
        if small and draw.chance(150):
            continue  # pay as you go: calls only
        regular = monthly_fees(account, account.versions[0].effective_from)
        if account.regular_fees == "no-trunk":
            regular = [fee for fee in regular if not fee.code.startswith("TRUNK-")]
        account.fees[:0] = regular
    candidates = [a for a in accounts if not a.story and a.sheet == RETAIL]
    one_offs = [
        ("PORT-IN", "Number porting, {n} numbers at 9.90", 990),
        ("PHONES", "Desk phones, {n} units at 89.00", 8900),
        ("INSTALL", "On-site installation", 12000),
        ("SUPPORT", "Configuration support, {n} hours at 85.00", 8500),
    ]
    for month, day_range, count in ((10, (1, 31), 9), (9, (1, 30), 2), (11, (2, 6), 1)):
        for _ in range(count):
            account = draw.pick(candidates)
            code, text, cents = draw.pick(one_offs)
            units = draw.between(2, 6) if "{n}" in text else 1
            date = f"{YEAR}-{month:02d}-{draw.between(*day_range):02d}"
            account.fees.append(Fee(code, text.format(n=units), cents * units, "once", date))
    settled = [
        a
        for a in accounts
        if not a.story and a.fees and a.sheet == RETAIL and a.versions[0].effective_from < "2026"
    ]
    for end in ("2026-08-31", "2026-09-30"):
        account = draw.pick(settled)
        since = account.versions[0].effective_from
        text = "ISDN adapter rental (migration period)"
        account.fees.append(Fee("ISDN-MIGRATION", text, 500, "monthly", since, end))
    account = draw.pick([a for a in settled if all(f.code != "SLA-PLUS" for f in a.fees)])
    text = "Service level Plus (4 h response)"
    account.fees.append(Fee("SLA-PLUS", text, 2900, "monthly", "2026-11-01"))


# --- Calls ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    account: Account
    caller: str  # E.164 with "+"
    number: str  # dialled digits with country code (or, when ``literal``, the text dialled)
    setup: dt.datetime  # UTC, when the call was placed
    ring_s: int
    billsec: int
    disposition: str
    literal: bool = False
    account_text: str | None = None  # written instead of the account id
    failover: bool = False  # the PBX tried a second trunk first (Asterisk only)
    duration_s: int | None = None  # Asterisk duration, when it is not ring + billsec
    tor: str = "*voice"

    @property
    def answer(self) -> dt.datetime:
        return self.setup + dt.timedelta(seconds=self.ring_s)

    @property
    def end(self) -> dt.datetime:
        return self.answer + dt.timedelta(seconds=self.billsec)

    @property
    def local_day(self) -> int:
        return self.setup.astimezone(BERLIN).day


HOURS = {
    (kind, weekend): Weighted((hour, int(row[column])) for hour, row in enumerate(HOUR_CURVES))
    for kind, weekend, column in (
        ("office", False, 1),
        ("office", True, 2),
        ("service", False, 3),
        ("service", True, 3),
        ("carrier", False, 4),
        ("carrier", True, 4),
    )
}


def day_weight(kind: str, day: int) -> int:
    weekday = dt.date(YEAR, MONTH, day).weekday()
    saturday, sunday = WEEKEND_SHARE[kind]
    if day in HOLIDAYS or weekday == 6:
        return sunday
    return saturday if weekday == 5 else 1000


def setup_time(draw: Draw, kind: str, day: int) -> dt.datetime:
    """A start on ``day`` (local) following the customer's daily curve. On 2026-10-25 the
    clocks go back and 02:00-03:00 happens twice; either hour may be drawn."""
    weekend = day in HOLIDAYS or dt.date(YEAR, MONTH, day).weekday() >= 5
    hour = draw.weighted(HOURS[kind, weekend])
    if day == DAYS:
        hour = min(hour, 22)  # keep the month's last calls in October
    second = draw.below(3600)
    fold = draw.below(2) if (day, hour) == (25, 2) else 0
    local = dt.datetime(YEAR, MONTH, day, hour, second // 60, second % 60, tzinfo=BERLIN)
    return local.replace(fold=fold).astimezone(dt.UTC)


def destination(draw: Draw, account: Account) -> str:
    if account.focus is not None:
        _, patterns = draw.weighted(account.focus if draw.chance(800) else WHOLESALE_ABROAD)
        return draw.digits(draw.pick(patterns))
    if draw.chance(account.abroad_per_mille):
        _, patterns = draw.weighted(RETAIL_ABROAD)
        return draw.digits(draw.pick(patterns))
    spot = draw.below(1000)
    if spot < 660:
        area = account.home_area if draw.chance(450) else draw.weighted(AREA_CODES)
        return "49" + area + draw.digits("N" + "#" * (8 - len(area)))
    if spot < 970:
        return draw.digits(draw.weighted(GERMAN_MOBILE))
    return draw.digits(draw.weighted(GERMAN_SERVICES))


def account_calls(account: Account) -> list[Call]:
    """The account's calls of the month: days and hours from its curves, destinations
    mostly from its own list of frequently called numbers."""
    draw = Draw(f"calls:{account.account_id}")
    days = Weighted(
        (day, day_weight(account.kind, day))
        for day in range(account.first_day, account.last_day + 1)
    )
    contacts = [destination(draw, account) for _ in range(max(10, min(300, account.calls // 4)))]
    frequent = Weighted((number, 1000 // (rank + 1)) for rank, number in enumerate(contacts))
    dispositions = DISPOSITIONS["carrier" if account.sheet == WHOLESALE else account.platform]
    calls = []
    for _ in range(account.calls):
        day = draw.weighted(days)
        setup = setup_time(draw, account.kind, day)
        numbers = account.numbers_on(day)
        caller = numbers[0] if draw.chance(400) else draw.pick(numbers)
        number = draw.weighted(frequent) if draw.chance(700) else destination(draw, account)
        disposition = draw.weighted(dispositions)
        ring = draw.between(*RING_SECONDS[disposition])
        billsec = draw.quantile(ANSWERED_SECONDS) if disposition == "ANSWERED" else 0
        failover = account.platform == PBX and disposition == "ANSWERED" and draw.chance(15)
        calls.append(
            Call(account, caller, number, setup, ring, billsec, disposition, failover=failover)
        )
    return calls


# --- Planted rejects --------------------------------------------------------------------

# What the README promises: (file, what, reason). Filled in by plant().
PLANTED: list[tuple[str, str, str]] = []


def at(day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(YEAR, MONTH, day, hour, minute, 7, tzinfo=BERLIN).astimezone(dt.UTC)


def plant(accounts: list[Account]) -> list[Call]:
    """Rows the engine must reject, each for a reason that happens in real deliveries."""
    plain = [a for a in accounts if not a.story and a.account_id not in HAND_MADE]
    pbx = [a for a in plain if a.platform == PBX and a.tier in ("medium", "small")]
    sbc = [a for a in plain if a.platform == SBC and a.sheet == RETAIL]
    carrier = [a for a in plain if a.platform == CGRATES]
    planted = [
        Call(
            pbx[0], pbx[0].numbers_on(12)[0], "*97", at(12, 8, 41), 1, 34, "ANSWERED", literal=True
        ),
        Call(
            pbx[1], pbx[1].numbers_on(23)[0], "*97", at(23, 17, 5), 1, 21, "ANSWERED", literal=True
        ),
        Call(
            sbc[0],
            sbc[0].numbers_on(7)[0],
            "*31#+4940" + "66969" + "871",
            at(7, 10, 12),
            4,
            95,
            "ANSWERED",
            literal=True,
        ),
        Call(
            sbc[1],
            "+493023125990",
            "4930" + "23125" + "777",
            at(28, 9, 30),
            6,
            184,
            "ANSWERED",
            account_text="",
        ),
        Call(
            sbc[1],
            "+493023125991",
            "49151" + "23456789",
            at(29, 14, 2),
            9,
            47,
            "ANSWERED",
            account_text="",
        ),
        Call(sbc[2], sbc[2].numbers_on(16)[0], "380442791234", at(16, 11, 20), 7, 312, "ANSWERED"),
        Call(sbc[2], sbc[2].numbers_on(21)[0], "380671234567", at(21, 15, 44), 5, 128, "ANSWERED"),
        Call(
            carrier[0],
            carrier[0].numbers_on(9)[0],
            "919812345678",
            at(9, 13, 3),
            0,
            1,
            "ANSWERED",
            tor="*sms",
        ),
        Call(
            carrier[1],
            carrier[1].numbers_on(24)[0],
            "2348031234567",
            at(24, 19, 51),
            0,
            1,
            "ANSWERED",
            tor="*sms",
        ),
        Call(
            pbx[2],
            pbx[2].numbers_on(27)[0],
            "4989" + "99998" + "321",
            at(27, 10, 15),
            5,
            66,
            "ANSWERED",
            duration_s=62,
        ),
    ]
    PLANTED.extend(
        [
            (
                "asterisk-2026-10-12.csv, asterisk-2026-10-23.csv",
                "dst `*97` (voicemail feature code)",
                "bad_number",
            ),
            ("canonical-2026-10-07.csv", "callee `*31#+494066969871` (CLIR prefix)", "bad_number"),
            (
                "canonical-2026-10-28.csv, canonical-2026-10-29.csv",
                "empty account, callers +493023125990/991 not in accounts.csv",
                "unknown_account",
            ),
            (
                "canonical-2026-10-16.csv, canonical-2026-10-21.csv",
                "calls to Ukraine (+380), not on the retail sheet",
                "no_rate",
            ),
            ("cgrates-2026-10-09.csv, cgrates-2026-10-24.csv", "ToR `*sms`", "parse_error"),
            ("asterisk-2026-10-27.csv", "billsec 66 > duration 62", "bad_duration"),
        ]
    )
    return planted


def clock_change_calls(accounts: list[Account]) -> list[Call]:
    """Night calls in the hour that happens twice when the clocks go back (2026-10-25,
    02:00-03:00 local): the SBC writes the offset, Asterisk only the local time."""
    night = [a for a in accounts if a.kind == "service" and not a.story and a.city is not None]
    trunk = next(a for a in night if a.platform == SBC and not a.by_caller)
    pbx = next(a for a in night if a.platform == PBX)
    calls = []
    for account, minute, fold in ((trunk, 20, 0), (trunk, 20, 1), (pbx, 40, 1)):
        local = dt.datetime(YEAR, MONTH, 25, 2, minute, 0, tzinfo=BERLIN).replace(fold=fold)
        number = "49" + (account.city or CITIES[0]).area + "5550123"
        calls.append(
            Call(
                account,
                account.numbers_on(25)[0],
                number,
                local.astimezone(dt.UTC),
                6,
                95,
                "ANSWERED",
            )
        )
    return calls


# --- Writing ----------------------------------------------------------------------------


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def local_text(moment: dt.datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S")


def canonical_files(calls: list[Call]) -> dict[str, str]:
    """The SBC's daily exports: starts with their offset, E.164 numbers. The file of
    2026-10-15 starts with the last rows of 2026-10-14 again (re-sent after a restart)."""
    files: dict[str, list[str]] = {october(day): [] for day in range(1, DAYS + 1)}
    ordered = sorted(calls, key=lambda c: (c.answer, c.account.account_id, c.caller))
    serial: dict[str, int] = {}
    for call in ordered:
        answered = call.disposition == "ANSWERED"
        start = (call.answer if answered else call.setup).astimezone(BERLIN)
        date = start.date().isoformat()
        serial[date] = serial.get(date, 0) + 1
        call_id = f"sbc1-{date.replace('-', '')}-{serial[date]:06d}"
        account = call.account.account_id if call.account_text is None else call.account_text
        if call.account.by_caller and call.account_text is None:
            account = ""
        callee = call.number if call.literal else f"+{call.number}"
        files[date].append(
            f"{call_id},{account},{call.caller},{callee},{start.isoformat()},"
            f"{call.billsec},{call.disposition}"
        )
    files[october(15)][:0] = files[october(14)][-4:]
    PLANTED.append(
        ("canonical-2026-10-15.csv", "lines 2-5 repeat the last 4 rows of 2026-10-14", "duplicate")
    )
    header = "call_id,account,caller,callee,start,duration,disposition"
    return {
        f"canonical-{date}.csv": "\n".join([header, *rows]) + "\n" for date, rows in files.items()
    }


def asterisk_rows(calls: list[Call]) -> list[tuple[int, dt.datetime, str]]:
    """Master.csv rows (day of the start, end, line); one per dial attempt."""
    counters = {"pbx1": 41_200, "pbx2": 17_500}
    channels = {"pbx1": 0x2A000, "pbx2": 0x11000}
    rows = []
    for call in sorted(calls, key=lambda c: (c.setup, c.account.account_id, c.caller)):
        account = call.account
        node = "pbx1" if int(account.account_id[-3:]) % 2 else "pbx2"
        counters[node] += 1
        channels[node] += 3
        uniqueid = f"{node}-{int(call.setup.timestamp())}.{counters[node]}"
        channel = f"PJSIP/{account.account_id.lower()}-{channels[node]:08x}"
        clid = f'"{account.users.get(call.caller, account.versions[0].name)}" <{call.caller}>'
        dialled = call.number if call.literal else f"00{call.number}"
        attempts = []
        if call.failover:
            attempts.append((call.setup, 0, 0, "CHANUNAVAIL", "nordlicht-sbc1", channels[node] + 1))
            ring_start = call.setup + dt.timedelta(seconds=1)
        else:
            ring_start = call.setup
        attempts.append(
            (
                ring_start,
                call.ring_s,
                call.billsec,
                call.disposition,
                "nordlicht-sbc2" if call.failover else "nordlicht-sbc1",
                channels[node] + 2,
            )
        )
        for start, ring, billsec, disposition, trunk, dst_channel in attempts:
            answered = disposition == "ANSWERED"
            end = start + dt.timedelta(seconds=ring + billsec)
            duration = ring + billsec if call.duration_s is None else call.duration_s
            if call.literal:
                app, data, peer = "VoiceMailMain", f"@{account.account_id.lower()}", ""
            else:
                app = "Dial"
                data = f"PJSIP/{dialled}@{trunk},60,Tt"
                peer = f"PJSIP/{trunk}-{dst_channel:08x}"
            answer = quoted(local_text(start + dt.timedelta(seconds=ring))) if answered else ""
            fields = [
                quoted(account.account_id),
                quoted(call.caller),
                quoted(dialled),
                quoted("outbound"),
                quoted(clid),
                quoted(channel),
                quoted(peer),
                quoted(app),
                quoted(data),
                quoted(local_text(start)),
                answer,
                quoted(local_text(end)),
                str(duration),
                str(billsec),
                quoted(disposition),
                quoted("DOCUMENTATION"),
                quoted(uniqueid),
                quoted(""),
            ]
            rows.append((call.local_day, end, ",".join(fields)))
    return rows


def asterisk_files(calls: list[Call]) -> dict[str, str]:
    """Master.csv rotated at midnight: rows in the order calls ended. One customer's
    ``<accountcode>.csv`` of 2026-10-20 is delivered as well, a copy of its rows."""
    files: dict[str, list[tuple[dt.datetime, str]]] = {}
    for day, end, line in asterisk_rows(calls):
        files.setdefault(october(day), []).append((end, line))
    texts = {
        f"asterisk-{date}.csv": "".join(line + "\n" for _, line in sorted(rows))
        for date, rows in sorted(files.items())
    }
    by_account: dict[str, list[str]] = {}
    for _, line in sorted(files[october(20)]):
        by_account.setdefault(line.split(",", 1)[0].strip('"'), []).append(line)
    account = next(a for a, lines in sorted(by_account.items()) if 3 <= len(lines) <= 6)
    texts[f"asterisk-resend-2026-10-20-{account}.csv"] = "".join(
        line + "\n" for line in by_account[account]
    )
    PLANTED.append(
        (
            f"asterisk-resend-2026-10-20-{account}.csv",
            f"{account}.csv written beside Master.csv: all {len(by_account[account])} rows again",
            "duplicate",
        )
    )
    return texts


def go_duration(seconds: int) -> str:
    """Go's time.Duration.String() for whole seconds: 45s, 2m5s, 1h0m12s."""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def go_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def cgrates_files(calls: list[Call]) -> dict[str, str]:
    """Daily ``*file_csv`` exports of the wholesale platform: UTC times, Go durations,
    bare international numbers; unanswered calls have the zero AnswerTime."""
    draw = Draw("cgrates")
    files: dict[str, list[str]] = {october(day): [] for day in range(1, DAYS + 1)}
    for call in sorted(calls, key=lambda c: (c.setup, c.account.account_id, c.caller)):
        origin = f"{draw.below(1 << 128):032x}"
        origin = f"{origin[:8]}-{origin[8:12]}-{origin[12:16]}-{origin[16:20]}-{origin[20:]}"
        cgrid = hashlib.sha1(f"{origin}10.20.1.5".encode()).hexdigest()
        answered = call.disposition == "ANSWERED"
        answer = go_time(call.answer) if answered else "0001-01-01 00:00:00 +0000 UTC"
        usage = str(call.billsec) if call.tor != "*voice" else go_duration(call.billsec)
        files[october(call.local_day)].append(
            ",".join(
                [
                    cgrid,
                    "*default",
                    call.tor,
                    origin,
                    "*postpaid",
                    "*out",
                    "nordlicht-telekom.example",
                    "call" if call.tor == "*voice" else "sms",
                    call.account.account_id,
                    call.caller.removeprefix("+"),
                    call.number,
                    go_time(call.setup),
                    answer,
                    usage,
                    "-1",
                ]
            )
        )
    return {f"cgrates-{date}.csv": "".join(r + "\n" for r in rows) for date, rows in files.items()}


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def accounts_text(hand_made: list[str], accounts: list[Account]) -> str:
    rows = [
        [
            account.account_id,
            version.name,
            account.sheet,
            version.effective_from,
            "0.19" if account.sheet == RETAIL else "0",
            " ".join(version.numbers),
            account.email,
            version.address,
            "true" if account.itemised else "false",
            account.commitment,
        ]
        for account in accounts
        for version in account.versions
    ]
    lines = [f"{ACCOUNTS_HEADER},{COMMITMENT}", *hand_made]
    return "\n".join(lines) + "\n" + csv_text(rows)


def fees_text(hand_made: list[str], accounts: list[Account]) -> str:
    rows = [
        [
            account.account_id,
            fee.code,
            fee.description,
            f"{fee.cents // 100}.{fee.cents % 100:02d}",
            fee.kind,
            fee.date,
            fee.end_date,
            "true" if account.sheet == RETAIL else "false",
            fee.prorate,
        ]
        for account in accounts
        for fee in account.fees
    ]
    lines = [f"{FEES_HEADER},{PRORATE}", *hand_made]
    return "\n".join(lines) + "\n" + csv_text(rows)


def build() -> dict[str, str]:
    """Every generated file: name in sample_cdrs/ -> content."""
    accounts_rows = read_hand_made(HERE / "accounts.csv", ACCOUNTS_HEADER, COMMITMENT)
    fees_rows = read_hand_made(HERE / "fees.csv", FEES_HEADER, PRORATE)
    hand_made = hand_made_accounts(accounts_rows)
    taken = [n for a in hand_made for v in a.versions for n in v.numbers]
    with (HERE / "2026-10-01.csv").open(encoding="utf-8", newline="") as day_one:
        for row in csv.DictReader(day_one):
            taken += ["+" + "".join(c for c in row[k] if c.isdigit()) for k in ("caller", "callee")]
    taken += ["+493023125990", "+493023125991"]  # the planted unknown callers
    pool = NumberPool(taken)
    accounts = generated_accounts(pool)
    add_stories(accounts, pool)
    add_fees(accounts)
    PLANTED.clear()
    everyone = hand_made + accounts
    calls = [call for account in everyone for call in account_calls(account)]
    calls += plant(everyone) + clock_change_calls(everyone)
    by_platform: dict[str, list[Call]] = {SBC: [], PBX: [], CGRATES: []}
    for call in calls:
        by_platform[call.account.platform].append(call)
    files = {
        "accounts.csv": accounts_text(accounts_rows, accounts),
        "fees.csv": fees_text(fees_rows, accounts),
    }
    files |= canonical_files(by_platform[SBC])
    files |= asterisk_files(by_platform[PBX])
    files |= cgrates_files(by_platform[CGRATES])
    return files


def stale_files(files: dict[str, str]) -> list[Path]:
    """Generated-looking files in sample_cdrs/ that this script no longer writes."""
    return sorted(
        path
        for pattern in GENERATED_PATTERNS
        for path in HERE.glob(pattern)
        if path.name not in files
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file on disk differs")
    args = parser.parse_args()
    files = build()
    if args.check:
        differ = [
            name
            for name, text in files.items()
            if not (HERE / name).is_file() or (HERE / name).read_text(encoding="utf-8") != text
        ]
        differ += [path.name for path in stale_files(files)]
        for name in differ:
            print(f"{name} is out of date: run {Path(__file__).name}", file=sys.stderr)
        return 1 if differ else 0
    for path in stale_files(files):
        path.unlink()
    for name, text in files.items():
        (HERE / name).write_text(text, encoding="utf-8", newline="\n")
    rows = sum(text.count("\n") for name, text in files.items() if "2026-10" in name)
    headers = sum(1 for name in files if name.startswith("canonical-"))
    size = sum(len(text.encode()) for text in files.values())
    print(
        f"wrote {len(files)} files to {HERE} ({size / 1e6:.1f} MB, {rows - headers} CDR rows)",
        file=sys.stderr,
    )
    for file, what, reason in PLANTED:
        print(f"planted {reason}: {file}: {what}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
