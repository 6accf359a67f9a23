"""A generated web of news outlets and the citing articles that name them, for bench/resolve.py.

Everything comes from one ``random.Random(seed)``, so a seed gives the same
outlets, articles and citing articles on every machine.

- **Outlets** have realistic registered domains (``harbortribune.com``,
  ``kvx.news``) and differ in how their articles can be found: a sitemap index
  listed in robots.txt (monthly sub-sitemaps), a plain ``/sitemap.xml``, a news
  sitemap, an RSS 2.0 or Atom feed linked from the front page (newest 50, with
  summaries), or only the front page (newest 30 as links). Every front page
  lists its newest 30 articles, as real ones do. URL shapes differ too; some
  carry no words at all (``/article/48213``).
- **Articles** are prose on one of ``TOPICS``: counts with units ("253,000
  criminal cases for desertion"), named people with roles, places,
  institutions, quotes. Each outlet has one *target* (what a citing article
  draws on, in the date window) and decoys of four kinds (``DECOY_KINDS``);
  the rest is filler on other topics, spread over the two years before
  ``TODAY``.
- **Citing articles** tell one story each from several outlets' targets: 2-4
  facts per outlet, reworded (numbers with units, a quote with its speaker,
  names), and end with "Sources for this article include: Name.com ...".

Numbers and quote sentences of targets are reserved: no other article uses
them (nor a sentence containing a target quote's middle words, which is how
quotes are found), except the "same numbers" decoys, which reuse the numbers on
purpose.
"""

from __future__ import annotations

import html
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape as xml_escape

TODAY = date(2025, 11, 1)  # the generated web's "now": articles span the two years before it
WINDOW_DAYS = 60  # citewatch's default resolve_days_before; decoys are placed around it
FEED_ITEMS = 50
FRONT_ITEMS = 30
DECOYS_PER_KIND = 2
DECOY_KINDS = {
    "older": "same topic, people and places, older than the window, other numbers",
    "same-topic": "same topic, people and places, in the window, other numbers and quotes",
    "same-numbers": "the target's numbers on another topic, in the window",
    "unrelated": "another topic, other numbers, in the window",
}
STYLES = ("sitemap-index", "sitemap", "news-sitemap", "rss", "atom", "front-page")


@dataclass(frozen=True)
class Measure:
    unit: str  # follows the number: "criminal cases for desertion"
    lo: int
    hi: int
    style: str = "int"  # int | round | pct | million


@dataclass(frozen=True)
class Topic:
    key: str
    section: str
    subjects: tuple[str, ...]
    groups: tuple[str, ...]
    institutions: tuple[str, ...]
    places: tuple[str, ...]
    roles: tuple[str, ...]
    measures: tuple[Measure, ...]


M = Measure


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


TOPICS: tuple[Topic, ...] = (
    Topic(
        "desertion",
        "war",
        ("desertion", "unauthorized absence from units", "troop rotation", "military discipline"),
        ("soldiers", "commanders", "families of servicemen", "recruits"),
        ("the Prosecutor General's Office", "the General Staff", "the Defence Ministry"),
        ("Kharkiv", "Dnipro", "Zaporizhzhia", "Pokrovsk", "Sumy"),
        ("military ombudsperson", "member of parliament", "brigade commander", "defence analyst"),
        (
            M("criminal cases for desertion", 5_000, 300_000, "round"),
            M("soldiers leaving their posts each day", 120, 950),
            M("cases of unauthorized abandonment of units", 20_000, 250_000),
            M("rise in desertion cases on last year", 11, 95, "pct"),
        ),
    ),
    Topic(
        "blackouts",
        "energy",
        ("power outages", "the electricity grid", "rolling blackouts", "energy rationing"),
        ("households", "engineers", "shop owners", "hospital managers"),
        ("the national grid operator", "the Energy Ministry", "Ukrenergo"),
        ("Odesa", "Lviv", "Chernihiv", "Mykolaiv", "Poltava"),
        ("grid engineer", "energy minister", "city mayor", "utility spokesperson"),
        (
            M("households without electricity", 10_000, 900_000),
            M("megawatts of generating capacity lost", 400, 9_000, "round"),
            M("substations damaged", 34, 480),
            M("hours of scheduled outages a week", 40, 160),
        ),
    ),
    Topic(
        "grain",
        "economy",
        ("grain exports", "the Black Sea corridor", "harvest forecasts", "port capacity"),
        ("farmers", "traders", "shipping companies", "port workers"),
        ("the Agriculture Ministry", "the port authority", "the grain traders' union"),
        ("Izmail", "Chornomorsk", "Vinnytsia", "Kherson", "Pivdennyi"),
        ("agriculture minister", "grain trader", "port director", "farm economist"),
        (
            M("tonnes of grain shipped", 50_000, 9_000_000, "round"),
            M("vessels cleared to sail", 40, 900),
            M("hectares left unharvested", 12_000, 800_000),
            M("drop in wheat prices", 11, 60, "pct"),
        ),
    ),
    Topic(
        "wildfires",
        "environment",
        ("wildfires", "forest management", "evacuation orders", "firefighting crews"),
        ("residents", "firefighters", "volunteers", "forest rangers"),
        ("the Civil Protection Agency", "the Forestry Service", "the regional fire brigade"),
        ("Evia", "Attica", "Rhodes", "Halkidiki", "Corinth"),
        ("fire chief", "civil protection minister", "forest ecologist", "village mayor"),
        (
            M("hectares of forest burned", 1_200, 180_000),
            M("people evacuated", 300, 60_000, "round"),
            M("homes destroyed", 45, 2_400),
            M("firefighters deployed", 150, 4_800),
        ),
    ),
    Topic(
        "rents",
        "housing",
        ("rising rents", "the housing shortage", "eviction rules", "social housing"),
        ("tenants", "landlords", "students", "young families"),
        ("the Housing Ministry", "the tenants' association", "the city council"),
        ("Lisbon", "Porto", "Braga", "Coimbra", "Faro"),
        ("housing minister", "tenant organizer", "property economist", "city councillor"),
        (
            M("families on housing waiting lists", 4_000, 160_000),
            M("euros in average monthly rent", 700, 2_400),
            M("eviction notices served", 1_100, 38_000),
            M("increase in rents since January", 11, 48, "pct"),
        ),
    ),
    Topic(
        "waiting-lists",
        "health",
        ("hospital waiting lists", "emergency care", "staff shortages", "surgery backlogs"),
        ("patients", "nurses", "junior doctors", "hospital administrators"),
        ("the Health Ministry", "the nurses' union", "the hospital trust"),
        ("Leeds", "Sheffield", "Bradford", "Hull", "York"),
        ("health secretary", "union leader", "senior consultant", "patient advocate"),
        (
            M("patients waiting more than a year for surgery", 12_000, 420_000),
            M("nursing vacancies", 900, 47_000),
            M("ambulances queued outside emergency departments", 35, 640),
            M("rise in waiting times", 11, 70, "pct"),
        ),
    ),
    Topic(
        "floods",
        "weather",
        ("flooding", "river defences", "flood insurance", "emergency shelters"),
        ("residents", "rescue teams", "farmers", "insurers"),
        ("the Water Authority", "the Interior Ministry", "the Red Cross"),
        ("Valencia", "Paiporta", "Catarroja", "Alfafar", "Sedavi"),
        ("rescue coordinator", "regional president", "hydrologist", "insurance executive"),
        (
            M("homes flooded", 800, 95_000),
            M("litres of rain per square metre", 120, 620),
            M("people rescued by boat", 60, 7_500),
            M("euros in insured losses", 1, 9, "million"),
        ),
    ),
    Topic(
        "turnout",
        "politics",
        ("voter turnout", "postal ballots", "the electoral roll", "campaign spending"),
        ("voters", "election observers", "campaign volunteers", "party officials"),
        ("the Electoral Commission", "the Constitutional Court", "the observer mission"),
        ("Chisinau", "Balti", "Cahul", "Orhei", "Ungheni"),
        ("election commissioner", "opposition leader", "political scientist", "observer mission head"),
        (
            M("ballots cast abroad", 20_000, 310_000),
            M("polling stations opened", 900, 2_300),
            M("complaints filed with election officials", 40, 3_900),
            M("turnout among young voters", 14, 61, "pct"),
        ),
    ),
    Topic(
        "rail-strike",
        "transport",
        ("the rail strike", "train cancellations", "wage talks", "commuter services"),
        ("commuters", "train drivers", "station staff", "rail managers"),
        ("the rail operator", "the drivers' union", "the Transport Ministry"),
        ("Lyon", "Marseille", "Lille", "Nantes", "Bordeaux"),
        ("union secretary", "transport minister", "rail executive", "commuter group chair"),
        (
            M("trains cancelled", 600, 24_000),
            M("passengers stranded", 12_000, 900_000, "round"),
            M("drivers on strike", 1_500, 19_000),
            M("pay rise demanded", 11, 19, "pct"),
        ),
    ),
    Topic(
        "cyberattack",
        "technology",
        ("the cyberattack", "ransomware", "data protection", "system outages"),
        ("customers", "security researchers", "IT staff", "bank clients"),
        ("the national cyber agency", "the data protection authority", "the central bank"),
        ("Tallinn", "Tartu", "Narva", "Parnu", "Viljandi"),
        ("cyber agency director", "security researcher", "bank spokesperson", "data protection chief"),
        (
            M("customer records stolen", 40_000, 6_000_000, "round"),
            M("servers encrypted", 120, 9_500),
            M("euros demanded in ransom", 2, 40, "million"),
            M("hours of downtime", 36, 190),
        ),
    ),
    Topic(
        "drought",
        "environment",
        ("the drought", "water restrictions", "reservoir levels", "irrigation"),
        ("farmers", "water engineers", "growers", "rural councils"),
        ("the Water Board", "the Environment Agency", "the farmers' federation"),
        ("Almeria", "Murcia", "Girona", "Lleida", "Huelva"),
        ("water board chair", "agronomist", "farmers' federation president", "climate scientist"),
        (
            M("cubic hectometres left in reservoirs", 40, 2_600),
            M("farms under irrigation bans", 700, 26_000),
            M("towns on water rationing", 35, 480),
            M("fall in olive harvest", 12, 65, "pct"),
        ),
    ),
    Topic(
        "border",
        "migration",
        ("border crossings", "asylum claims", "reception centres", "deportation flights"),
        ("migrants", "border guards", "aid workers", "asylum seekers"),
        ("the Border Guard Service", "the Interior Ministry", "the refugee agency"),
        ("Lampedusa", "Ceuta", "Evros", "Lesbos", "Calais"),
        ("border guard commander", "interior minister", "aid coordinator", "migration researcher"),
        (
            M("irregular crossings recorded", 6_000, 280_000),
            M("asylum applications pending", 14_000, 410_000),
            M("people held in reception centres", 900, 32_000),
            M("rise in crossings on the central route", 12, 90, "pct"),
        ),
    ),
    Topic(
        "football",
        "sport",
        ("the title race", "the transfer window", "stadium safety", "youth academies"),
        ("supporters", "players", "club directors", "coaches"),
        ("the football federation", "the league", "the supporters' trust"),
        ("Glasgow", "Edinburgh", "Dundee", "Aberdeen", "Kilmarnock"),
        ("club manager", "league chief executive", "team captain", "sports economist"),
        (
            M("supporters in the stadium", 8_000, 60_000, "round"),
            M("pounds paid in transfer fees", 2, 90, "million"),
            M("goals scored this season", 34, 110),
            M("rise in season ticket prices", 11, 35, "pct"),
        ),
    ),
    Topic(
        "film",
        "culture",
        ("the film festival", "independent cinema", "streaming deals", "arts funding"),
        ("filmmakers", "critics", "festival guests", "distributors"),
        ("the festival board", "the Culture Ministry", "the film institute"),
        ("Karlovy Vary", "Venice", "Locarno", "San Sebastian", "Sarajevo"),
        ("festival director", "film critic", "culture minister", "documentary maker"),
        (
            M("films screened", 120, 480),
            M("tickets sold", 30_000, 190_000, "round"),
            M("euros in public funding", 2, 30, "million"),
            M("countries represented", 33, 95),
        ),
    ),
    Topic(
        "layoffs",
        "business",
        ("tech layoffs", "hiring freezes", "remote work", "startup funding"),
        ("engineers", "recruiters", "founders", "investors"),
        ("the labour office", "the startup association", "the tech workers' union"),
        ("Berlin", "Munich", "Hamburg", "Cologne", "Leipzig"),
        ("startup founder", "labour economist", "union organizer", "venture investor"),
        (
            M("jobs cut across the sector", 3_000, 140_000),
            M("startups closed", 60, 2_900),
            M("euros raised in venture funding", 10, 900, "million"),
            M("fall in job postings", 12, 55, "pct"),
        ),
    ),
    Topic(
        "schools",
        "education",
        ("school closures", "teacher shortages", "exam results", "classroom sizes"),
        ("teachers", "parents", "pupils", "head teachers"),
        ("the Education Ministry", "the teachers' union", "the school inspectorate"),
        ("Krakow", "Gdansk", "Wroclaw", "Poznan", "Lodz"),
        ("education minister", "head teacher", "union chair", "education researcher"),
        (
            M("teaching posts unfilled", 1_200, 38_000),
            M("schools closed", 40, 1_900),
            M("pupils moved to remote lessons", 9_000, 420_000, "round"),
            M("pass rate in mathematics", 31, 92, "pct"),
        ),
    ),
    Topic(
        "food-prices",
        "economy",
        ("food prices", "inflation", "supermarket margins", "household budgets"),
        ("shoppers", "pensioners", "grocers", "economists"),
        ("the statistics office", "the central bank", "the consumer council"),
        ("Budapest", "Debrecen", "Szeged", "Pecs", "Gyor"),
        ("central bank governor", "consumer advocate", "retail analyst", "finance minister"),
        (
            M("rise in the price of bread", 11, 70, "pct"),
            M("forints for a basket of staples", 12_000, 48_000),
            M("families relying on food banks", 14_000, 260_000),
            M("shops fined for price gouging", 35, 1_400),
        ),
    ),
    Topic(
        "mining",
        "industry",
        ("the mine collapse", "mine safety", "rescue operations", "coal production"),
        ("miners", "rescue workers", "relatives", "safety inspectors"),
        ("the Mining Authority", "the miners' union", "the State Mining Company"),
        ("Katowice", "Rybnik", "Jastrzebie", "Bytom", "Zabrze"),
        ("mine director", "union chairman", "safety inspector", "energy minister"),
        (
            M("metres below ground", 640, 1_300),
            M("miners trapped", 32, 240),
            M("tonnes of coal lost in production", 20_000, 900_000),
            M("safety violations recorded", 40, 2_600),
        ),
    ),
    Topic(
        "tourism",
        "travel",
        ("overtourism", "cruise ship arrivals", "short-term rentals", "tourist taxes"),
        ("residents", "hoteliers", "tour guides", "visitors"),
        ("the tourism board", "the city council", "the hoteliers' association"),
        ("Dubrovnik", "Split", "Hvar", "Zadar", "Rovinj"),
        ("tourism minister", "city mayor", "hotel owner", "urban geographer"),
        (
            M("cruise passengers arriving", 40_000, 1_200_000, "round"),
            M("beds in short-term rentals", 3_000, 64_000),
            M("euros collected in tourist taxes", 2, 60, "million"),
            M("drop in resident population", 11, 40, "pct"),
        ),
    ),
    Topic(
        "air-pollution",
        "environment",
        ("air pollution", "smog alerts", "traffic bans", "coal heating"),
        ("residents", "doctors", "motorists", "environmental campaigners"),
        ("the Environmental Protection Agency", "the city hall", "the health institute"),
        ("Skopje", "Tetovo", "Bitola", "Kumanovo", "Ohrid"),
        ("environment minister", "pulmonologist", "campaign leader", "air quality scientist"),
        (
            M("micrograms of fine particles per cubic metre", 60, 480),
            M("days over the legal limit", 33, 190),
            M("premature deaths attributed to smog", 400, 4_900),
            M("rise in hospital admissions", 11, 65, "pct"),
        ),
    ),
)

FIRST_NAMES = _words(
    "Olha Viktor Marta Tomasz Ingrid Rafael Amara Kenji Leila Dmytro Sofia Mateo Anneli Priya Jonas Aisha "
    "Pavel Elena Hugo Nadia Karim Freya Lukas Yara Oren Mirela Tariq Zofia Emil Ines Bogdan Greta Nikos "
    "Lucia Andrei Maren"
)
LAST_NAMES = _words(
    "Reshetylova Kowalczyk Lindqvist Okafor Moreau Hakimi Novak Tanaka Petrenko Alvarez Brennan Szabo "
    "Castellanos Haddad Varga Jensen Mensah Ivanova Kaur Oyelaran Rossi Dimitrov Sato Fischer Horvat "
    "Nakamura Abiodun Lefebvre Marchetti Bergstrom Kovalenko Papadakis Lungu Ferreira Holm Zielinski"
)
OUTLET_PREFIXES = _words(
    "Harbor Valley Northern Coastal Capital Metro Prairie Baltic Danube Alpine Pacific Highland "
    "Riverside Lakeshore Eastern Summit Granite Cedar Atlas Meridian Frontier Lantern"
)
OUTLET_NOUNS = _words(
    "Herald Tribune Post Courier Ledger Gazette Times Chronicle Monitor Dispatch Observer Sentinel "
    "Wire Journal Review Bulletin"
)
# Suffixes tldextract knows as public suffixes; .com as often as in life.
OUTLET_SUFFIXES = ("com", "com", "com", "news", "net", "org", "co.uk", "info")

ADJECTIVES = (
    "serious",
    "unprecedented",
    "alarming",
    "worse than anyone expected",
    "getting harder to ignore",
    "deeply worrying",
    "a national emergency",
    "far from solved",
)
QUOTE_SENTENCES = (
    "Let's be honest, the problem with {subject} is {adj}.",
    "{Group} in {place} are exhausted and they need answers.",
    "We cannot solve {subject} with punishment alone.",
    "Nobody planned for {subject} on this scale.",
    "Every week we see more {group} asking for help with {subject}.",
    "If nothing changes in {place}, {subject} will only get worse.",
    "The situation in {place} is {adj}, and everyone here knows it.",
    "I have spoken to {group} who feel completely abandoned.",
    "We warned about {subject} months ago and nobody listened.",
    "There is no quick fix for {subject}, but there is a plan.",
    "The people of {place} deserve the truth about {subject}.",
    "What we are seeing with {subject} is {adj} by any measure.",
    "{Group} tell me the same thing: they are tired of waiting.",
    "My job is to make sure {group} in {place} are not forgotten.",
    "You cannot run a country on promises about {subject}.",
    "I realized that for {group}, {subject} is a daily fight.",
    "We will publish everything we know about {subject} in {place}.",
    "Frankly, the response to {subject} has been {adj}.",
    "Talk to {group} in {place} and you hear anger, not hope.",
    "The longer this goes on, the more {group} will leave {place}.",
)
BACKGROUND = (
    "{Subject} has become one of the most debated issues in {place}.",
    "{Group} say conditions have not improved despite repeated promises.",
    "Critics argue that {inst} has been slow to respond to concerns about {subject}.",
    "The debate over {subject} is expected to continue when lawmakers return next month.",
    "Local officials in {place} have called for more resources to deal with {subject}.",
    "Analysts say the trend reflects deeper problems with {subject2}.",
    "{Inst} did not respond to a request for comment.",
    "Several {group} interviewed for this article asked not to be named.",
    "The issue has drawn attention from international observers as well.",
    "Supporters of the current approach say it needs more time to work.",
    "{Group} in {place} described long delays and little information from {inst}.",
    "The government has promised a review of {subject2} before the end of the year.",
    "Opposition politicians blamed the crisis on years of neglect of {subject2}.",
    "The figures are the highest since {year}, when records of {subject} began.",
    "A parliamentary committee will hear evidence on {subject} from {inst}.",
)
SOURCE_NUMBER = (
    "{Inst} said {num} {unit} had been recorded in {place} since the start of {year}.",
    "According to figures released by {inst}, {num} {unit} were registered in {place} over the past year.",
    "In {place}, {num} {unit} were reported, {inst} said on {weekday}.",
    "Data from {inst} show {num} {unit} nationwide, the highest figure since {year}.",
    "Officials put the total at {num} {unit}, with {place} among the worst affected areas.",
    "The latest count stands at {num} {unit}, according to {inst}.",
)
CITING_NUMBER = (
    "Official figures from {inst} show more than {num} {unit}.",
    "{Place} alone has seen {num} {unit}, according to {inst}.",
    "By the latest count, {num} {unit} have been recorded.",
    "{Inst} acknowledges {num} {unit}, a figure that keeps growing.",
    "At least {num} {unit} have now been logged in {place}.",
    "The tally has reached {num} {unit}, official data show.",
)
SOURCE_QUOTE = (
    "\u201c{q}\u201d said {speaker}, the {role}.",
    "{speaker}, the {role}, said: \u201c{q}\u201d",
    "\u201c{q}\u201d {speaker} told reporters in {place}.",
    "Speaking in {place}, the {role}, {speaker}, said: \u201c{q}\u201d",
)
CITING_QUOTE = (
    '{speaker}, the {role}, put it plainly: "{q}"',
    '"{q}" {speaker} said.',
    'As {speaker} told reporters, "{q}"',
    "The {role}, {speaker}, was blunt: \u201c{q}\u201d",
)
TITLES = (
    "{Subject} in {place}: {num} {unit}, {inst} says",
    "{Inst} reports {num} {unit}",
    "{Place} faces {subject} as {group} demand answers",
    "Why {subject} is getting worse in {place}",
    "{Group} in {place} speak out on {subject}",
    "{num} {unit}: what we know about {subject}",
)
CITING_OPENERS = (
    "{Subject} is no longer a problem that officials in {place} can talk their way around.",
    "The crisis over {subject} has moved from the margins to the centre of public life.",
    "For {group}, {subject} has become the defining issue of the year.",
)
CITING_CLOSERS = (
    "Ultimately, {subject} is a test that {inst} has so far failed to pass.",
    "Whatever happens next, {group} in {place} will be watching closely.",
    "The numbers tell a story that no official statement can soften.",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
AUTHORS = ("isabelle", "Mark Sadler", "J. Okoro", "Lena Fuchs", "staff writer", "Paul Dunne")


# -- values ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    name: str
    role: str


@dataclass(frozen=True)
class NumberFact:
    number: str  # as printed: "253,000", "42 percent", "3.2 million"
    unit: str


@dataclass(frozen=True)
class QuoteFact:
    speaker: Person
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass
class Article:
    """One page of an outlet."""

    role: str  # target | older | same-topic | same-numbers | unrelated | filler
    topic: Topic
    published: datetime
    title: str = ""
    paragraphs: list[str] = field(default_factory=list)
    numbers: list[NumberFact] = field(default_factory=list)
    quotes: list[QuoteFact] = field(default_factory=list)
    place: str = ""
    institution: str = ""
    author: str = ""
    path: str = ""


@dataclass
class Outlet:
    host: str
    name: str  # as a citing article writes it: "HarborTribune.com"
    style: str  # how its articles are found: one of STYLES
    url_style: str
    articles: list[Article] = field(default_factory=list)
    citing_date: date | None = None

    @property
    def target(self) -> Article:
        return next(a for a in self.articles if a.role == "target")

    def newest(self, count: int) -> list[Article]:
        return sorted(self.articles, key=lambda a: a.published, reverse=True)[:count]

    def target_reachable(self) -> bool:
        """Whether what the outlet publishes about its articles lists the target at all."""
        if self.style in {"rss", "atom"}:
            return self.target in self.newest(FEED_ITEMS)
        if self.style == "front-page":
            return self.target in self.newest(FRONT_ITEMS)
        return True


@dataclass
class Citing:
    name: str  # file name
    topic: Topic
    published: date
    outlets: list[Outlet]
    text: str = ""


# -- the generator --------------------------------------------------------------------------------
def plain_words(sentence: str) -> list[str]:
    """Lower-case words, punctuation dropped (apostrophes kept).

    >>> plain_words("Farmers tell me the same thing: they're tired.")
    ['farmers', 'tell', 'me', 'the', 'same', 'thing', "they're", 'tired']
    """
    return "".join(c if c.isalnum() or c in " '" else " " for c in sentence.lower()).split()


def quote_core(sentence: str) -> str:
    """A quote sentence's words without the first and last: what a quote is found by.

    Quotes are matched on their middle words anywhere in a page (edges get trimmed
    and re-punctuated), so no other sentence may contain a target's core.

    >>> quote_core("Farmers tell me the same thing: they are tired of waiting.")
    'tell me the same thing they are tired of'
    """
    words = plain_words(sentence)
    return " ".join(words[1:-1] if len(words) > 5 else words)


class ReservedQuotes:
    """The cores of target quote sentences; finds one inside any other sentence."""

    def __init__(self) -> None:
        self._by_start: dict[tuple[str, ...], list[str]] = {}

    def add(self, sentence: str) -> None:
        core = quote_core(sentence)
        self._by_start.setdefault(tuple(core.split()[:2]), []).append(core)

    def clash(self, sentence: str) -> bool:
        words = plain_words(sentence)
        text = " ".join(words)
        for pair in {tuple(words[i : i + 2]) for i in range(len(words))}:
            if any(core in text for core in self._by_start.get(pair, ())):
                return True
        return False


def cap(text: str) -> str:
    """First letter upper-cased, the rest kept.

    >>> cap("the Prosecutor General's Office")
    "The Prosecutor General's Office"
    """
    return text[:1].upper() + text[1:]


class Generator:
    """Draws outlets, articles and citing articles from one ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.people = self._rosters()
        self.reserved_numbers: set[str] = set()
        self.reserved_quotes = ReservedQuotes()
        self.paths: set[tuple[str, str]] = set()

    def _rosters(self) -> dict[str, list[Person]]:
        names = [f"{f} {last}" for f in FIRST_NAMES for last in LAST_NAMES]
        self.rng.shuffle(names)
        rosters = {}
        for topic in TOPICS:
            rosters[topic.key] = [Person(names.pop(), role) for role in topic.roles for _ in range(2)]
        return rosters

    # -- small draws ----------------------------------------------------------------------------
    def number(self, measure: Measure, avoid: set[str]) -> str:
        for _ in range(1000):
            value = self._number(measure)
            if value not in avoid and not self._looks_like_year(value):
                return value
        raise RuntimeError(f"no unreserved number left for {measure.unit!r}: widen its range")

    def _number(self, m: Measure) -> str:
        rng = self.rng
        if m.style == "pct":
            return f"{rng.randint(m.lo * 10, m.hi * 10) / 10:g} percent"
        if m.style == "million":
            return f"{rng.randint(m.lo * 10, m.hi * 10) / 10:g} million"
        value = rng.randint(m.lo, m.hi)
        if m.style == "round" and value >= 1000:
            value = round(value, 3 - len(str(value)))
        return f"{value:,}"

    @staticmethod
    def _looks_like_year(value: str) -> bool:
        digits = value.replace(",", "")
        return digits.isdigit() and 1900 <= int(digits) <= 2100

    def slots(self, topic: Topic, place: str | None = None, inst: str | None = None) -> dict[str, str]:
        rng = self.rng
        subject, subject2 = rng.sample(topic.subjects, 2)
        values = {
            "subject": subject,
            "subject2": subject2,
            "group": rng.choice(topic.groups),
            "place": place or rng.choice(topic.places),
            "inst": inst or rng.choice(topic.institutions),
            "adj": rng.choice(ADJECTIVES),
            "year": str(rng.randint(2014, 2023)),
            "weekday": rng.choice(WEEKDAYS),
        }
        return {**values, **{cap(k): cap(v) for k, v in values.items()}}

    def fill(self, template: str, topic: Topic, **given: str) -> str:
        values = self.slots(topic, given.get("place"), given.get("inst"))
        values.update({k: v for k, v in given.items() if v})
        values.update({cap(k): cap(v) for k, v in given.items() if v})
        return template.format(**values)

    def quote(self, topic: Topic, speaker: Person, place: str) -> QuoteFact:
        count = self.rng.choice((1, 2, 2))
        sentences: list[str] = []
        for _ in range(1000):
            sentence = self.fill(self.rng.choice(QUOTE_SENTENCES), topic, place=place)
            if not self.reserved_quotes.clash(sentence) and sentence not in sentences:
                sentences.append(sentence)
            if len(sentences) == count:
                return QuoteFact(speaker, tuple(sentences))
        raise RuntimeError(f"no unreserved quote left on {topic.key!r}: add QUOTE_SENTENCES")

    # -- articles -------------------------------------------------------------------------------
    def article(
        self,
        role: str,
        topic: Topic,
        published: datetime,
        numbers: list[str] | None = None,
        speakers: list[Person] | None = None,
        place: str | None = None,
    ) -> Article:
        rng = self.rng
        place, inst = place or rng.choice(topic.places), rng.choice(topic.institutions)
        art = Article(role, topic, published, place=place, institution=inst, author=rng.choice(AUTHORS))
        measures = rng.sample(topic.measures, 3)
        given = numbers or [self.number(m, self.reserved_numbers) for m in measures]
        art.numbers = [NumberFact(n, m.unit) for n, m in zip(given, measures, strict=True)]
        people = speakers or rng.sample(self.people[topic.key], 2)
        art.quotes = [self.quote(topic, person, place) for person in people]
        art.paragraphs = self._paragraphs(art)
        art.title = self._title(art)
        return art

    def _number_sentence(self, art: Article, fact: NumberFact) -> str:
        template = self.rng.choice(SOURCE_NUMBER)
        return self.fill(
            template, art.topic, num=fact.number, unit=fact.unit, place=art.place, inst=art.institution
        )

    def _quote_sentence(self, art: Article, fact: QuoteFact) -> str:
        template = self.rng.choice(SOURCE_QUOTE)
        speaker = fact.speaker
        return template.format(q=fact.text, speaker=speaker.name, role=speaker.role, place=art.place)

    def _background(self, art: Article, count: int) -> str:
        templates = self.rng.sample(BACKGROUND, count)
        return " ".join(self.fill(t, art.topic, place=art.place, inst=art.institution) for t in templates)

    def _paragraphs(self, art: Article) -> list[str]:
        n1, n2, n3 = (self._number_sentence(art, f) for f in art.numbers)
        q1, q2 = (self._quote_sentence(art, q) for q in art.quotes)
        return [
            f"{n1} {self._background(art, 1)}",
            f"{n2} {n3}",
            q1,
            self._background(art, 3),
            f"{q2} {self._background(art, 1)}",
            self._background(art, 2),
        ]

    def _title(self, art: Article) -> str:
        fact = art.numbers[0]
        template = self.rng.choice(TITLES)
        title = self.fill(
            template, art.topic, num=fact.number, unit=fact.unit, place=art.place, inst=art.institution
        )
        return cap(title)

    # -- outlets --------------------------------------------------------------------------------
    def outlet_names(self, count: int) -> list[tuple[str, str]]:
        names: dict[str, str] = {}
        while len(names) < count:
            if self.rng.random() < 0.15:
                stem = "".join(self.rng.choice("BCDFGHKLMNPRSTVWXZ") for _ in range(3))
                suffix = "news"
            else:
                stem = self.rng.choice(OUTLET_PREFIXES) + self.rng.choice(OUTLET_NOUNS)
                suffix = self.rng.choice(OUTLET_SUFFIXES)
            names.setdefault(f"{stem.lower()}.{suffix}", f"{stem}.{suffix}")
        return list(names.items())

    def when(self, day: date, hour: int | None = None) -> datetime:
        at = time(hour if hour is not None else self.rng.randint(6, 21), self.rng.randint(0, 59))
        return datetime.combine(day, at)

    def days_before(self, day: date, lo: int, hi: int) -> datetime:
        return self.when(day - timedelta(days=self.rng.randint(lo, hi)))

    def target(self, topic: Topic, citing: date) -> Article:
        art = self.article("target", topic, self.days_before(citing, 1, 40))
        self.reserved_numbers.update(f.number for f in art.numbers)
        for sentence in (s for q in art.quotes for s in q.sentences):
            self.reserved_quotes.add(sentence)
        return art

    def decoys(self, target: Article, citing: date) -> list[Article]:
        topic, others = target.topic, [t for t in TOPICS if t is not target.topic]
        first_speaker = target.quotes[0].speaker
        made = []
        for _ in range(DECOYS_PER_KIND):
            other_speaker = self.rng.choice([p for p in self.people[topic.key] if p != first_speaker])
            speakers = [first_speaker, other_speaker]
            place = self.rng.choice((target.place, self.rng.choice(topic.places)))
            made += [
                self.article(
                    "older", topic, self.days_before(citing, WINDOW_DAYS + 15, 700), None, speakers, place
                ),
                self.article(
                    "same-topic", topic, self.days_before(citing, 0, WINDOW_DAYS - 5), None, speakers, place
                ),
                self.article(
                    "same-numbers",
                    self.rng.choice(others),
                    self.days_before(citing, 0, WINDOW_DAYS - 5),
                    [f.number for f in target.numbers],
                ),
                self.article(
                    "unrelated", self.rng.choice(others), self.days_before(citing, 0, WINDOW_DAYS - 5)
                ),
            ]
        return made

    def filler(self, avoid: Topic) -> Article:
        topic = self.rng.choice([t for t in TOPICS if t is not avoid])
        return self.article("filler", topic, self.days_before(TODAY, 0, 730))

    def outlet(self, host: str, name: str, style: str, topic: Topic, citing: date) -> Outlet:
        """An outlet with its target only: every target is drawn (and reserved) before other articles."""
        outlet = Outlet(host, name, style, self.rng.choice(URL_STYLES), citing_date=citing)
        outlet.articles = [self.target(topic, citing)]
        return outlet

    def fill_outlet(self, outlet: Outlet, count: int) -> None:
        """Decoys and filler up to ``count`` articles, in a shuffled order, each with its path."""
        target = outlet.target
        assert outlet.citing_date is not None
        outlet.articles += self.decoys(target, outlet.citing_date)
        while len(outlet.articles) < count:
            outlet.articles.append(self.filler(target.topic))
        self.rng.shuffle(outlet.articles)
        for art in outlet.articles:
            art.path = self.path(outlet, art)

    def path(self, outlet: Outlet, art: Article) -> str:
        path = outlet.url_style.format(
            section=art.topic.section,
            slug=slug(art.title),
            y=art.published.year,
            m=f"{art.published.month:02d}",
            d=f"{art.published.day:02d}",
            id=self.rng.randint(100_000, 999_999),
        )
        while (outlet.host, path) in self.paths:  # one title twice on one day: the second gets a suffix
            path += "-2"
        self.paths.add((outlet.host, path))
        return path

    # -- citing articles ------------------------------------------------------------------------
    def citing(self, number: int, topic: Topic, published: date, outlets: list[Outlet]) -> Citing:
        cited = Citing(f"citing-{number:02d}.txt", topic, published, outlets)
        paragraphs = [self.fill(self.rng.choice(CITING_OPENERS), topic)]
        for outlet in outlets:
            paragraphs.append(self._restate(outlet.target))
        paragraphs.append(self.fill(self.rng.choice(CITING_CLOSERS), topic))
        cited.text = self._citing_text(topic, published, paragraphs, outlets)
        return cited

    def _restate(self, target: Article) -> str:
        """2-4 of the target's facts, reworded: always a number, usually a quote."""
        rng = self.rng
        count = rng.randint(2, 4)
        quotes = rng.sample(target.quotes, rng.choice((0, 1, 1, 2)) if count > 1 else 0)
        quotes = quotes[: count - 1]
        numbers = rng.sample(target.numbers, min(3, count - len(quotes)))
        sentences = [self._restate_number(target, fact) for fact in numbers]
        sentences += [self._restate_quote(fact) for fact in quotes]
        rng.shuffle(sentences)
        return " ".join(sentences)

    def _restate_number(self, target: Article, fact: NumberFact) -> str:
        template = self.rng.choice(CITING_NUMBER)
        filled = self.fill(
            template,
            target.topic,
            num=fact.number,
            unit=fact.unit,
            place=target.place,
            inst=target.institution,
        )
        return cap(filled)

    def _restate_quote(self, fact: QuoteFact) -> str:
        # A citing article often keeps only part of a quote.
        sentences = fact.sentences[: self.rng.randint(1, len(fact.sentences))]
        template = self.rng.choice(CITING_QUOTE)
        return cap(template.format(q=" ".join(sentences), speaker=fact.speaker.name, role=fact.speaker.role))

    def _citing_text(
        self, topic: Topic, published: date, paragraphs: list[str], outlets: list[Outlet]
    ) -> str:
        headline = cap(self.fill("{subject} crisis deepens in {place} as {group} lose patience", topic))
        bullets = [f"  \u2022 {self.fill(t, topic)}" for t in self.rng.sample(BACKGROUND[:6], 3)]
        sources = " ".join(o.name for o in outlets)
        lines = [
            headline,
            f"By {self.rng.choice(AUTHORS)} // {published.isoformat()}",
            *bullets,
            *paragraphs,
            f"Sources for this article include: {sources}",
        ]
        return "\n".join(lines) + "\n"


URL_STYLES = (
    "/{section}/{y}/{m}/{d}/{slug}",
    "/news/{slug}-{id}",
    "/{section}/{slug}",
    "/article/{id}",
    "/{y}/{m}/{slug}.html",
)


def slug(title: str) -> str:
    """
    >>> slug("Kharkiv: 253,000 criminal cases, the Office says")
    'kharkiv-253000-criminal-cases-the-office-says'
    """
    kept = "".join(c if c.isalnum() or c == " " else "" if c in ",.'" else " " for c in title.lower())
    return "-".join(kept.split()[:9])


@dataclass
class Web:
    outlets: list[Outlet]
    citing: list[Citing]


def build(seed: int, outlets: int, articles: int, per_article: int) -> Web:
    """Outlets, their articles and the citing articles that name them, all from ``seed``."""
    gen = Generator(seed)
    names = gen.outlet_names(outlets)
    stories = math.ceil(outlets / per_article)
    topics = [TOPICS[i % len(TOPICS)] for i in gen.rng.sample(range(max(stories, len(TOPICS))), stories)]
    groups = []
    for story, topic in enumerate(topics):
        published = TODAY - timedelta(days=gen.rng.randint(3, 30))
        members = []
        for offset, (host, name) in enumerate(names[story * per_article : (story + 1) * per_article]):
            style = STYLES[(story * per_article + offset) % len(STYLES)]
            members.append(gen.outlet(host, name, style, topic, published))
        groups.append((topic, published, members))
    for _, _, members in groups:
        for outlet in members:
            gen.fill_outlet(outlet, articles)
    citing = [gen.citing(n, topic, day, members) for n, (topic, day, members) in enumerate(groups, 1)]
    return Web([o for _, _, members in groups for o in members], citing)


# -- the pages ------------------------------------------------------------------------------------
def _iso(when: datetime) -> str:
    return when.isoformat() + "+00:00"


def _rfc822(when: datetime) -> str:
    return format_datetime(datetime.fromisoformat(_iso(when)))


def article_html(outlet: Outlet, art: Article, related: list[Article]) -> str:
    e = html.escape
    body = "".join(f"<p>{e(p)}</p>" for p in art.paragraphs)
    aside = "".join(f'<li><a href="{r.path}">{e(r.title)}</a></li>' for r in related)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(art.title)} | {e(outlet.name)}'
        f'</title><meta property="article:published_time" content="{_iso(art.published)}">'
        f'<link rel="stylesheet" href="/static/site.css">{_feed_link(outlet)}</head><body>'
        f'<header><a href="/">{e(outlet.name)}</a><nav>'
        f'<a href="/{art.topic.section}/">{art.topic.section}</a></nav></header>'
        f"<main><article><h1>{e(art.title)}</h1>"
        f'<p class="byline">By {e(art.author)} | '
        f'<time datetime="{_iso(art.published)}">{art.published:%d %B %Y}</time></p>{body}</article>'
        f"<aside><h2>Most read</h2><ul>{aside}</ul></aside></main>"
        f"<footer>&copy; {e(outlet.name)}. All rights reserved.</footer></body></html>"
    )


def _feed_link(outlet: Outlet) -> str:
    if outlet.style == "rss":
        return '<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed/">'
    if outlet.style == "atom":
        return '<link rel="alternate" type="application/atom+xml" title="Atom" href="/atom.xml">'
    return ""


def front_page(outlet: Outlet) -> str:
    e = html.escape
    items = "".join(
        f'<li><h2><a href="{a.path}">{e(a.title)}</a></h2></li>' for a in outlet.newest(FRONT_ITEMS)
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(outlet.name)}</title>'
        f'<link rel="stylesheet" href="/static/site.css">{_feed_link(outlet)}</head><body>'
        f"<header><h1>{e(outlet.name)}</h1><nav><a href='/about'>About</a></nav></header>"
        f"<main><ul>{items}</ul></main><footer>&copy; {e(outlet.name)}</footer></body></html>"
    )


def _urlset(outlet: Outlet, arts: list[Article]) -> str:
    items = "".join(
        f"<url><loc>https://{outlet.host}{a.path}</loc><lastmod>{_iso(a.published)}</lastmod></url>"
        for a in arts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>'
    )


def _news_sitemap(outlet: Outlet, arts: list[Article]) -> str:
    items = "".join(
        f"<url><loc>https://{outlet.host}{a.path}</loc><news:news><news:publication>"
        f"<news:name>{xml_escape(outlet.name)}</news:name><news:language>en</news:language>"
        f"</news:publication><news:publication_date>{_iso(a.published)}</news:publication_date>"
        f"<news:title>{xml_escape(a.title)}</news:title></news:news></url>"
        for a in arts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{items}</urlset>'
    )


def _summary(art: Article) -> str:
    return art.paragraphs[0].split(". ")[0].rstrip(".") + "."


def _rss(outlet: Outlet) -> str:
    items = "".join(
        f"<item><title>{xml_escape(a.title)}</title><link>https://{outlet.host}{a.path}</link>"
        f"<guid>https://{outlet.host}{a.path}</guid><pubDate>{_rfc822(a.published)}</pubDate>"
        f"<description>{xml_escape(_summary(a))}</description></item>"
        for a in outlet.newest(FEED_ITEMS)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{xml_escape(outlet.name)}'
        f"</title><link>https://{outlet.host}/</link><description>News</description>{items}</channel></rss>"
    )


def _atom(outlet: Outlet) -> str:
    items = "".join(
        f"<entry><title>{xml_escape(a.title)}</title><link href='https://{outlet.host}{a.path}'/>"
        f"<id>https://{outlet.host}{a.path}</id><updated>{_iso(a.published)}</updated>"
        f"<summary>{xml_escape(_summary(a))}</summary></entry>"
        for a in outlet.newest(FEED_ITEMS)
    )
    updated = _iso(outlet.newest(1)[0].published)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{xml_escape(outlet.name)}</title><id>https://{outlet.host}/</id><updated>{updated}</updated>"
        f"{items}</feed>"
    )


Page = tuple[str, str, str]  # path, body, content type
XML = "application/xml"


def _robots(sitemaps: list[str]) -> str:
    return "User-agent: *\nDisallow: /search\n" + "".join(f"Sitemap: {s}\n" for s in sitemaps)


def _by_month(outlet: Outlet) -> dict[str, list[Article]]:
    months: dict[str, list[Article]] = {}
    for art in sorted(outlet.articles, key=lambda a: a.published):
        months.setdefault(f"{art.published:%Y-%m}", []).append(art)
    return months


def _sitemap_index(outlet: Outlet) -> Iterator[Page]:
    months = _by_month(outlet)
    origin = f"https://{outlet.host}"
    listed = "".join(
        f"<sitemap><loc>{origin}/sitemaps/post-{m}.xml</loc><lastmod>{_iso(arts[-1].published)}</lastmod></sitemap>"
        for m, arts in reversed(months.items())
    )
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{listed}</sitemapindex>'
    )
    yield "/robots.txt", _robots([f"{origin}/sitemap_index.xml"]), "text/plain"
    yield "/sitemap_index.xml", index, XML
    for month, arts in months.items():
        yield f"/sitemaps/post-{month}.xml", _urlset(outlet, arts), XML


def discovery_pages(outlet: Outlet) -> Iterator[Page]:
    """robots.txt, sitemaps and feeds, as the outlet's style has them (404 for the rest)."""
    origin = f"https://{outlet.host}"
    if outlet.style == "sitemap-index":
        yield from _sitemap_index(outlet)
    elif outlet.style == "sitemap":
        yield "/robots.txt", _robots([]), "text/plain"
        yield "/sitemap.xml", _urlset(outlet, outlet.articles), XML
    elif outlet.style == "news-sitemap":
        recent = [a for a in outlet.articles if a.published.date() >= TODAY - timedelta(days=90)]
        yield "/robots.txt", _robots([f"{origin}/news-sitemap.xml", f"{origin}/sitemap.xml"]), "text/plain"
        yield "/news-sitemap.xml", _news_sitemap(outlet, recent), XML
        yield "/sitemap.xml", _urlset(outlet, outlet.articles), XML
    elif outlet.style == "rss":
        yield "/robots.txt", _robots([]), "text/plain"
        yield "/feed/", _rss(outlet), "application/rss+xml; charset=utf-8"
    elif outlet.style == "atom":
        yield "/robots.txt", _robots([]), "text/plain"
        yield "/atom.xml", _atom(outlet), "application/atom+xml; charset=utf-8"
    # front-page: no robots.txt, no sitemap, no feed


def pages(outlet: Outlet) -> Iterator[Page]:
    """Every page the outlet serves."""
    yield "/", front_page(outlet), "text/html; charset=utf-8"
    yield "/static/site.css", "body{font-family:serif;max-width:40em;margin:auto}", "text/css"
    yield from discovery_pages(outlet)
    newest = outlet.newest(8)
    for art in outlet.articles:
        related = [a for a in newest if a is not art][:5]
        yield art.path, article_html(outlet, art, related), "text/html; charset=utf-8"
