"""Generate wholesale-global.csv, the sample A-Z termination deck.

Run from anywhere: ``python rate_sheets/make_wholesale.py``. The output is fully
deterministic (no clock, no random module, no dict-order surprises), so running it
again must reproduce the committed CSV byte for byte; ``--check`` verifies that.

The deck has, per country (ITU-T E.164 country codes):

- a catch-all row for the country code;
- for countries whose mobile ranges are listed below, "Fixed" rows one digit deeper
  and "Mobile" rows for each mobile range, plus nested mobile rows one digit deeper
  for short ranges (the way carrier decks split ranges by operator);
- a few named special areas (Hawaii, Alaska, Vatican City, Mayotte, ...).

Rates are per minute in USD. Each prefix gets its country's base rate scaled by a
factor in [0.90, 1.10] taken from the SHA-256 of the prefix, so the numbers look like a
real deck but never change between runs or Python versions.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

OUT = Path(__file__).with_name("wholesale-global.csv")

# code | name | region. Region decides the base rates and the billing increments.
COUNTRIES = """
1|USA|NA
20|Egypt|AFN
211|South Sudan|AFR
212|Morocco|AFN
213|Algeria|AFN
216|Tunisia|AFN
218|Libya|AFN
220|Gambia|AFR
221|Senegal|AFR
222|Mauritania|AFR
223|Mali|AFR
224|Guinea|AFR
225|Cote d'Ivoire|AFR
226|Burkina Faso|AFR
227|Niger|AFR
228|Togo|AFR
229|Benin|AFR
230|Mauritius|AFR
231|Liberia|AFR
232|Sierra Leone|AFR
233|Ghana|AFR
234|Nigeria|AFR
235|Chad|AFR
236|Central African Republic|AFR
237|Cameroon|AFR
238|Cape Verde|AFR
239|Sao Tome and Principe|AFR
240|Equatorial Guinea|AFR
241|Gabon|AFR
242|Congo|AFR
243|Congo DR|AFR
244|Angola|AFR
245|Guinea-Bissau|AFR
246|Diego Garcia|SAT
247|Ascension|SAT
248|Seychelles|AFR
249|Sudan|AFR
250|Rwanda|AFR
251|Ethiopia|AFR
252|Somalia|AFR
253|Djibouti|AFR
254|Kenya|AFR
255|Tanzania|AFR
256|Uganda|AFR
257|Burundi|AFR
258|Mozambique|AFR
260|Zambia|AFR
261|Madagascar|AFR
262|Reunion|AFR
263|Zimbabwe|AFR
264|Namibia|AFR
265|Malawi|AFR
266|Lesotho|AFR
267|Botswana|AFR
268|Eswatini|AFR
269|Comoros|AFR
27|South Africa|AFS
290|Saint Helena|SAT
291|Eritrea|AFR
297|Aruba|CAR
298|Faroe Islands|EUE
299|Greenland|OCE
30|Greece|EUW
31|Netherlands|EUW
32|Belgium|EUW
33|France|EUW
34|Spain|EUW
350|Gibraltar|EUE
351|Portugal|EUW
352|Luxembourg|EUW
353|Ireland|EUW
354|Iceland|EUE
355|Albania|EUE
356|Malta|EUE
357|Cyprus|EUE
358|Finland|EUW
359|Bulgaria|EUE
36|Hungary|EUE
370|Lithuania|EUE
371|Latvia|EUE
372|Estonia|EUE
373|Moldova|EUE
374|Armenia|EUE
375|Belarus|EUE
376|Andorra|EUE
377|Monaco|EUE
378|San Marino|EUE
380|Ukraine|EUE
381|Serbia|EUE
382|Montenegro|EUE
383|Kosovo|EUE
385|Croatia|EUE
386|Slovenia|EUE
387|Bosnia and Herzegovina|EUE
389|North Macedonia|EUE
39|Italy|EUW
40|Romania|EUE
41|Switzerland|EUW
420|Czech Republic|EUE
421|Slovakia|EUE
423|Liechtenstein|EUE
43|Austria|EUW
44|United Kingdom|EUW
45|Denmark|EUW
46|Sweden|EUW
47|Norway|EUW
48|Poland|EUE
49|Germany|EUW
500|Falkland Islands|SAT
501|Belize|LAT
502|Guatemala|LAT
503|El Salvador|LAT
504|Honduras|LAT
505|Nicaragua|LAT
506|Costa Rica|LAT
507|Panama|LAT
508|Saint Pierre and Miquelon|CAR
509|Haiti|CAR
51|Peru|LAT
52|Mexico|MX
53|Cuba|CU
54|Argentina|LAT
55|Brazil|LAT
56|Chile|LAT
57|Colombia|LAT
58|Venezuela|LAT
590|Guadeloupe|CAR
591|Bolivia|LAT
592|Guyana|LAT
593|Ecuador|LAT
594|French Guiana|CAR
595|Paraguay|LAT
596|Martinique|CAR
597|Suriname|LAT
598|Uruguay|LAT
599|Caribbean Netherlands|CAR
60|Malaysia|AS
61|Australia|AU
62|Indonesia|AS
63|Philippines|PH
64|New Zealand|AU
65|Singapore|AS
66|Thailand|AS
670|Timor-Leste|OCE
672|Norfolk Island|OCE
673|Brunei|AS
674|Nauru|OCE
675|Papua New Guinea|OCE
676|Tonga|OCE
677|Solomon Islands|OCE
678|Vanuatu|OCE
679|Fiji|OCE
680|Palau|OCE
681|Wallis and Futuna|OCE
682|Cook Islands|OCE
683|Niue|OCE
685|Samoa|OCE
686|Kiribati|OCE
687|New Caledonia|OCE
688|Tuvalu|OCE
689|French Polynesia|OCE
690|Tokelau|OCE
691|Micronesia|OCE
692|Marshall Islands|OCE
7|Russia|RU
76|Kazakhstan|CIS
77|Kazakhstan|CIS
81|Japan|AS
82|South Korea|AS
84|Vietnam|AS
850|North Korea|SAT
852|Hong Kong|AS
853|Macau|AS
855|Cambodia|AS
856|Laos|AS
86|China|CN
870|Inmarsat|SAT
8816|Iridium|SAT
8817|Iridium|SAT
8818|Globalstar|SAT
8819|Globalstar|SAT
880|Bangladesh|SAS
882|International Networks|SAT
883|International Networks|SAT
886|Taiwan|AS
90|Turkey|ME
91|India|IN
92|Pakistan|SAS
93|Afghanistan|SAS
94|Sri Lanka|SAS
95|Myanmar|SAS
960|Maldives|SAS
961|Lebanon|ME
962|Jordan|ME
963|Syria|ME
964|Iraq|ME
965|Kuwait|ME
966|Saudi Arabia|ME
967|Yemen|ME
968|Oman|ME
970|Palestine|ME
971|United Arab Emirates|ME
972|Israel|ME
973|Bahrain|ME
974|Qatar|ME
975|Bhutan|SAS
976|Mongolia|AS
977|Nepal|SAS
98|Iran|ME
992|Tajikistan|CIS
993|Turkmenistan|CIS
994|Azerbaijan|CIS
995|Georgia|CIS
996|Kyrgyzstan|CIS
998|Uzbekistan|CIS
"""

# Named areas inside another country code (prefix | name | region).
SPECIAL = """
1242|Bahamas|CAR
1246|Barbados|CAR
1264|Anguilla|CAR
1268|Antigua and Barbuda|CAR
1284|British Virgin Islands|CAR
1340|US Virgin Islands|CAR
1345|Cayman Islands|CAR
1441|Bermuda|CAR
1473|Grenada|CAR
1649|Turks and Caicos Islands|CAR
1658|Jamaica|CAR
1664|Montserrat|CAR
1670|Northern Mariana Islands|OCE
1671|Guam|OCE
1684|American Samoa|OCE
1721|Sint Maarten|CAR
1758|Saint Lucia|CAR
1767|Dominica|CAR
1784|Saint Vincent and the Grenadines|CAR
1787|Puerto Rico|NA
1808|USA Hawaii|NA
1809|Dominican Republic|CAR
1829|Dominican Republic|CAR
1849|Dominican Republic|CAR
1868|Trinidad and Tobago|CAR
1869|Saint Kitts and Nevis|CAR
1876|Jamaica|CAR
1907|USA Alaska|NA
1939|Puerto Rico|NA
262269|Mayotte|AFR
262639|Mayotte Mobile|AFR
35818|Aland Islands|EUW
3906698|Vatican City|EUW
4470|United Kingdom Personal Numbers|PN
5993|Sint Eustatius|CAR
5994|Saba|CAR
5997|Bonaire|CAR
5999|Curacao|CAR
90392|Northern Cyprus|ME
"""

CANADA_AREA_CODES = (
    "204 226 236 249 250 263 289 306 343 354 365 367 368 382 403 416 418 428 431 437 "
    "438 450 468 474 506 514 519 548 579 581 584 587 604 613 639 647 672 683 705 709 "
    "742 753 778 780 782 807 819 825 867 873 879 902 905"
)

BRAZIL_AREA_CODES = (
    "11 12 13 14 15 16 17 18 19 21 22 24 27 28 31 32 33 34 35 37 38 41 42 43 44 45 46 "
    "47 48 49 51 53 54 55 61 62 63 64 65 66 67 68 69 71 73 74 75 77 79 81 82 83 84 85 "
    "86 87 88 89 91 92 93 94 95 96 97 98 99"
)

# Mobile ranges (full prefixes, country code included).
MOBILE: dict[str, str] = {
    "20": "2010 2011 2012 2015",
    "212": "2126 2127",
    "213": "2135 2136 2137",
    "216": "2162 2164 2165 2169",
    "218": "21891 21892 21894",
    "221": "2217",
    "225": "22501 22505 22507",
    "233": "23320 23324 23326 23327 23350 23354 23355 23359",
    "234": "2347 2348 2349",
    "237": "2376",
    "243": "24381 24382 24384 24385 24389 24397 24399",
    "244": "2449",
    "250": "25072 25073 25078 25079",
    "251": "2517 2519",
    "254": "2541 2547",
    "255": "2556 2557",
    "256": "2567",
    "258": "25882 25884 25886 25887",
    "260": "26077 26095 26096 26097",
    "261": "26132 26133 26134 26138",
    "263": "2637",
    "264": "26481 26485",
    "265": "26588 26599",
    "267": "2677",
    "27": "2760 2761 2762 2763 2764 2765 2766 2767 2768 2771 2772 2773 2774 2776 2778 "
    "2779 2781 2782 2783 2784",
    "30": "3069",
    "31": "316",
    "32": "3246 3247 3248 3249",
    "33": "336 337",
    "34": "346 347",
    "350": "35054 35056 35057 35058 35060",
    "351": "3519",
    "352": "3526",
    "353": "35383 35385 35386 35387 35389",
    "354": "3546 3547 3548",
    "355": "3556",
    "356": "3567 3569",
    "357": "3579",
    "358": "3584 35850",
    "359": "35987 35988 35989",
    "36": "3620 3630 3650 3670",
    "370": "3706",
    "371": "3712",
    "372": "3725 3728",
    "373": "3736 3737",
    "374": "3744 3745 3747 3749",
    "375": "37525 37529 37533 37544",
    "376": "3763 3764 3766",
    "377": "3774 3776",
    "380": "38050 38063 38066 38067 38068 38073 38093 38095 38096 38097 38098 38099",
    "381": "3816",
    "382": "3826",
    "383": "3834",
    "385": "3859",
    "386": "38630 38631 38640 38641 38651 38664 38668 38669 38670 38671",
    "387": "3876",
    "389": "3897",
    "39": "393",
    "40": "407",
    "41": "4175 4176 4177 4178 4179",
    "420": "42060 42070 42072 42073 42077 42079",
    "421": "4219",
    "423": "4237",
    "43": "43650 43660 43664 43676 43677 43680 43681 43688 43699",
    "44": "447",
    "45": "452 4530 4531 4540 4541 4542 4550 4551 4552 4553 4560 4561 4571 4581 4591 4592 4593",
    "46": "4670 4672 4673 4676 4679",
    "47": "474 479",
    "48": "4845 4850 4851 4853 4857 4860 4866 4869 4872 4873 4878 4879 4888",
    "49": "4915 4916 4917",
    "502": "5023 5024 5025",
    "503": "5036 5037",
    "504": "5043 5048 5049",
    "505": "5058",
    "506": "5066 5067 5068",
    "507": "5076",
    "509": "5093 5094",
    "51": "519",
    "53": "535",
    "54": "549",
    "55": " ".join(f"55{area}9" for area in BRAZIL_AREA_CODES.split()),
    "56": "569",
    "57": "573",
    "58": "58412 58414 58416 58424 58426",
    "591": "5916 5917",
    "593": "5939",
    "595": "5959",
    "598": "5989",
    "60": "601",
    "61": "614",
    "62": "628",
    "63": "639",
    "64": "642",
    "65": "658 659",
    "66": "666 668 669",
    "7": "79",
    "77": "7700 7701 7702 7705 7707 7708 7747 7771 7775 7776 7777 7778",
    "81": "8170 8180 8190",
    "82": "8210",
    "84": "843 845 847 848 849",
    "852": "8525 8526 8529",
    "853": "8536",
    "855": "85511 85512 85515 85516 85517 85577 85592 85597",
    "856": "85620",
    "86": "8613 8614 8615 8616 8617 8618 8619",
    "880": "8801",
    "886": "8869",
    "90": "905",
    "91": "916 917 918 919",
    "92": "923",
    "93": "937",
    "94": "947",
    "95": "959",
    "960": "9607 9609",
    "961": "9613 96170 96171 96176 96178 96179 96181",
    "962": "9627",
    "963": "9639",
    "964": "9647",
    "965": "9655 9656 9659",
    "966": "9665",
    "967": "9677",
    "968": "9687 9689",
    "970": "97056 97059",
    "971": "97150 97152 97154 97155 97156 97158",
    "972": "9725",
    "973": "9733",
    "974": "9743 9745 9746 9747",
    "976": "9768 9769",
    "977": "9779",
    "98": "989",
    "992": "9929",
    "993": "9936",
    "994": "99450 99451 99455 99470 99477",
    "995": "9955",
    "996": "99622 9965 9967",
    "998": "9989",
}

# First digits of the national fixed-line numbers, where they differ from 2-9.
FIXED_DIGITS: dict[str, str] = {
    "30": "2",
    "31": "123457",
    "32": "235689",
    "33": "123459",
    "34": "89",
    "39": "0",
    "43": "123457",
    "44": "123",
    "46": "1234568",
    "61": "2378",
    "64": "345679",
    "7": "348",
    "81": "123456789",
    "86": "123456789",
    "91": "12345",
}

# Base price per minute (fixed, mobile) in USD.
BASE_RATES: dict[str, tuple[str, str]] = {
    "NA": ("0.0045", "0.0045"),
    "CAR": ("0.1100", "0.1600"),
    "MX": ("0.0085", "0.0110"),
    "CU": ("0.7200", "0.7200"),
    "LAT": ("0.0240", "0.0650"),
    "EUW": ("0.0058", "0.0145"),
    "EUE": ("0.0180", "0.0420"),
    "RU": ("0.0420", "0.0950"),
    "CIS": ("0.0850", "0.1200"),
    "AFN": ("0.0900", "0.1300"),
    "AFR": ("0.1200", "0.1700"),
    "AFS": ("0.0160", "0.0450"),
    "ME": ("0.0850", "0.1100"),
    "AS": ("0.0210", "0.0300"),
    "CN": ("0.0075", "0.0075"),
    "PH": ("0.1000", "0.1300"),
    "IN": ("0.0115", "0.0120"),
    "SAS": ("0.0500", "0.0600"),
    "AU": ("0.0140", "0.0380"),
    "OCE": ("0.3400", "0.4600"),
    "SAT": ("4.2000", "4.2000"),
    "PN": ("0.1500", "0.1500"),
}

CANADA_RATE = "0.0052"

# Regions billed per whole minute; everything else is billed per second.
PER_MINUTE_REGIONS = {"CU", "MX", "OCE", "SAT", "PN"}

# Mobile ranges this short (digits after the country code) get nested operator rows.
NEST_UP_TO = 2


def parse_table(text: str) -> list[tuple[str, str, str]]:
    return [
        (code, name, region)
        for code, name, region in (line.split("|") for line in text.strip().splitlines())
    ]


def jitter(prefix: str) -> Decimal:
    """A factor in [0.90, 1.10] that depends only on the prefix."""
    digest = int(hashlib.sha256(prefix.encode("ascii")).hexdigest()[:8], 16)
    return Decimal(900_000 + digest % 200_001) / Decimal(1_000_000)


def price(base: str, prefix: str) -> str:
    rate = Decimal(base) * jitter(prefix)
    if rate < Decimal("0.01"):
        places = Decimal("0.000001")
    elif rate < Decimal("0.1"):
        places = Decimal("0.00001")
    else:
        places = Decimal("0.0001")
    return str(rate.quantize(places, rounding=ROUND_HALF_UP))


def increments(region: str) -> str:
    return "60/60" if region in PER_MINUTE_REGIONS else "1/1"


def build() -> dict[str, tuple[str, str, str]]:
    """prefix -> (destination, rate, increments); the first writer of a prefix wins."""
    rows: dict[str, tuple[str, str, str]] = {}

    def add(prefix: str, destination: str, base: str, region: str) -> None:
        if prefix not in rows:
            rows[prefix] = (destination, price(base, prefix), increments(region))

    countries = parse_table(COUNTRIES)
    for prefix, name, region in parse_table(SPECIAL):
        add(prefix, name, BASE_RATES[region][0], region)
    for area in CANADA_AREA_CODES.split():
        add(f"1{area}", "Canada", CANADA_RATE, "NA")

    for code, name, region in countries:
        fixed_base, mobile_base = BASE_RATES[region]
        mobiles = MOBILE.get(code, "").split()
        add(code, f"{name} Fixed" if mobiles else name, fixed_base, region)
        for prefix in mobiles:
            add(prefix, f"{name} Mobile", mobile_base, region)
        if not mobiles:
            continue
        if code == "55":
            for area in BRAZIL_AREA_CODES.split():
                add(f"55{area}", f"{name} Fixed", fixed_base, region)
        else:
            for digit in FIXED_DIGITS.get(code, "23456789"):
                add(code + digit, f"{name} Fixed", fixed_base, region)
        for prefix in mobiles:
            if len(prefix) - len(code) <= NEST_UP_TO:
                parent_rate = rows[prefix][1]
                for digit in "0123456789":
                    add(prefix + digit, f"{name} Mobile", parent_rate, region)
    return rows


def render(rows: dict[str, tuple[str, str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["prefix", "destination", "rate", "increments"])
    for prefix in sorted(rows):
        writer.writerow([prefix, *rows[prefix]])
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed CSV differs")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.name} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({text.count(chr(10)) - 1} rates)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
