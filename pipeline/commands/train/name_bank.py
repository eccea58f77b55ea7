"""Names of the kinds our users' news is full of and 1996 Reuters is not, for entity-swap augmentation in
`news-ingest train-ner --augment` (pipeline/commands/train/augment.py): official bodies with "of the",
Ukrainian and other non-English personal names, media outlets, laws' titles, weapon systems and formats.

Written from general knowledge and the annotation guidelines' examples, never taken from a gold set (the
news gold sets judge what this teaches). Types follow ../shared/data/ner_news/GUIDELINES.md (CoNLL-2003).
"""

from __future__ import annotations

ORG_BODIES = (
    "Office of the President",
    "Office of the President of Ukraine",
    "Office of the Prosecutor General",
    "Prosecutor General's Office",
    "Cabinet of Ministers",
    "Cabinet of Ministers of Ukraine",
    "Verkhovna Rada",
    "Verkhovna Rada of Ukraine",
    "Ministry of Defense",
    "Ministry of Defence of Ukraine",
    "Ministry of Foreign Affairs",
    "Ministry of Foreign Affairs of Ukraine",
    "Ministry of Internal Affairs",
    "Ministry of Justice",
    "Ministry of Health of Ukraine",
    "Ministry of Finance",
    "Ministry of Economy",
    "Ministry of Digital Transformation",
    "Ministry of Energy",
    "Ministry of Strategic Industries",
    "Ministry for Reintegration of the Temporarily Occupied Territories",
    "National Security and Defense Council",
    "Security Service of Ukraine",
    "SBU",
    "National Anti-Corruption Bureau",
    "National Anti-Corruption Bureau of Ukraine",
    "NABU",
    "Specialized Anti-Corruption Prosecutor's Office",
    "SAPO",
    "High Anti-Corruption Court",
    "National Agency on Corruption Prevention",
    "Constitutional Court of Ukraine",
    "Supreme Court",
    "National Bank of Ukraine",
    "State Border Guard Service",
    "State Emergency Service",
    "State Bureau of Investigation",
    "General Staff of the Armed Forces of Ukraine",
    "Armed Forces of Ukraine",
    "Air Force of the Armed Forces of Ukraine",
    "Naval Forces of Ukraine",
    "National Guard of Ukraine",
    "Defence Intelligence of Ukraine",
    "Main Intelligence Directorate",
    "Territorial Defense Forces",
    "Kyiv City State Administration",
    "Kharkiv Regional Military Administration",
    "Odesa City Council",
    "Servant of the People",
    "European Solidarity",
    "European Commission",
    "European Parliament",
    "European Council",
    "Council of the European Union",
    "Council of Europe",
    "Parliamentary Assembly of the Council of Europe",
    "European Court of Human Rights",
    "European Investment Bank",
    "European Bank for Reconstruction and Development",
    "North Atlantic Treaty Organization",
    "NATO",
    "NATO-Ukraine Council",
    "Organization for Security and Co-operation in Europe",
    "OSCE",
    "United Nations Security Council",
    "UN General Assembly",
    "International Atomic Energy Agency",
    "IAEA",
    "International Criminal Court",
    "International Monetary Fund",
    "World Bank",
    "Group of Seven",
    "Ukraine Defense Contact Group",
    "Bundestag",
    "Sejm",
    "State Duma",
    "Federation Council",
    "Ministry of Defence of the Russian Federation",
    "Wagner Group",
    "Pentagon",
    "State Department",
    "White House",
    "Naftogaz",
    "Ukrenergo",
    "Energoatom",
    "Ukrzaliznytsia",
    "Antonov",
    "Ukroboronprom",
    "Rheinmetall",
    "Lockheed Martin",
    "Baykar",
)

ORG_MEDIA = (
    "Ukrainska Pravda",
    "Kyiv Independent",
    "Ukrinform",
    "Suspilne",
    "Interfax-Ukraine",
    "Radio Liberty",
    "Radio Free Europe",
    "Deutsche Welle",
    "Der Spiegel",
    "Le Monde",
    "Politico",
    "Bloomberg",
    "Financial Times",
    "Wall Street Journal",
    "New York Times",
    "Washington Post",
    "Al Jazeera",
    "Novaya Gazeta",
    "TASS",
    "RIA Novosti",
    "BBC",
    "CNN",
    "Telegram",
    "Facebook",
)

_UKRAINIAN_GIVEN = (
    "Volodymyr Oleksandr Andriy Dmytro Serhiy Mykola Mykhailo Kyrylo Ruslan Yevhen Valerii Ihor Bohdan Oleh Roman "
    "Vadym Yaroslav Taras Petro Vitali Anatoliy Yuliia Olena Iryna Oksana Halyna Nataliya Tetiana Viktoriia Svitlana "
    "Olha Maryna Liudmyla Yulia"
).split()
_UKRAINIAN_FAMILY = (
    "Zelenskyy Kuleba Reznikov Umerov Zaluzhnyi Syrskyi Budanov Klitschko Yermak Stefanchuk Podolyak Kubrakov Fedorov "
    "Svyrydenko Sybiha Markarova Shevchenko Kovalenko Bondarenko Tkachenko Kravchenko Melnyk Lysenko Marchenko "
    "Hrytsenko Poroshenko Tymoshenko Kuchma Kravchuk Danilov Lubinets Kostin Malyuk Klymenko Monastyrskyi Razumkov "
    "Stefanishyna Vereshchuk Kachka Zhovkva Sadovyi Terekhov Kim Vilkul"
).split()
PER_OTHER = (
    "Emmanuel Macron",
    "Olaf Scholz",
    "Andrzej Duda",
    "Ursula von der Leyen",
    "Charles Michel",
    "Josep Borrell",
    "Jens Stoltenberg",
    "Mark Rutte",
    "Kaja Kallas",
    "Antony Blinken",
    "Lloyd Austin",
    "Giorgia Meloni",
    "Pedro Sánchez",
    "Viktor Orbán",
    "Mevlüt Çavuşoğlu",
    "Hakan Fidan",
    "Ilham Aliyev",
    "Nikol Pashinyan",
    "Maia Sandu",
    "Alexander Lukashenko",
    "Vladimir Putin",
    "Sergei Lavrov",
    "Dmitry Peskov",
    "Sergei Shoigu",
    "António Guterres",
    "Rafael Grossi",
    "Narendra Modi",
    "Xi Jinping",
    "Gitanas Nausėda",
    "Petr Fiala",
    "Ulf Kristersson",
    "Sauli Niinistö",
    "Alar Karis",
    "Edgars Rinkēvičs",
    "Klaus Iohannis",
    "Radosław Sikorski",
    "Annalena Baerbock",
    "Boris Pistorius",
    "Roberta Metsola",
    "Mohammed bin Salman",
    "Luiz Inácio Lula da Silva",
    "Abdel Fattah el-Sisi",
    "Kassym-Jomart Tokayev",
    "Shavkat Mirziyoyev",
    "Volodymyr Oleksandrovych Zelenskyy",
    "Ruslan Oleksiyovych Stefanchuk",
)

MISC_THINGS = (
    "Patriot",
    "HIMARS",
    "SAMP/T",
    "IRIS-T",
    "NASAMS",
    "Bayraktar",
    "Bayraktar TB2",
    "Shahed-136",
    "Leopard 2",
    "F-16",
    "Abrams",
    "Storm Shadow",
    "ATACMS",
    "Iskander",
    "Kalibr",
    "Kinzhal",
    "Gepard",
    "Stinger",
    "Javelin",
    "Mirage 2000",
    "Gripen",
    "Bradley",
    "Ramstein format",
    "Grain Initiative",
    "Peace Formula",
    "Minsk agreements",
    "Istanbul Convention",
    "Euromaidan",
    "Revolution of Dignity",
    "Ukraine Recovery Conference",
    "Munich Security Conference",
    "Ukraine Facility",
    "Lend-Lease",
    "Diia",
    "Prozorro",
)

# Laws and programmes are named by long capitalised titles; the MISC span is the title inside the quotes
_LAW_SUBJECTS = (
    "Prevention of Corruption",
    "National Security of Ukraine",
    "the State Budget of Ukraine for 2024",
    "Sanctions",
    "Mobilization Training and Mobilization",
    "Military Duty and Military Service",
    "Restoring Trust in the Constitutional Court of Ukraine",
    "Amendments to Certain Legislative Acts of Ukraine Regarding the Strengthening of Air Defense",
    "Amendments to the Criminal Code of Ukraine Regarding Liability for Collaborationism",
    "the Legal Regime of Martial Law",
    "the Protection of the Interests of Business Entities During Martial Law",
    "Public Procurement",
    "Prevention of Threats to the Energy Security of Ukraine",
    "Ensuring the Functioning of the Ukrainian Language as the State Language",
)
_CONVENTIONS = (
    "Convention on the Rights of the Child",
    "Convention on the Prohibition of Anti-Personnel Mines",
    "Treaty on the Non-Proliferation of Nuclear Weapons",
    "European Convention on Human Rights",
    "Rome Statute of the International Criminal Court",
    "Budapest Memorandum on Security Assurances",
    "Chemical Weapons Convention",
    "Geneva Conventions",
    "Montreux Convention",
    "Vienna Convention on Diplomatic Relations",
    "Council of Europe Convention on Action against Trafficking in Human Beings",
    "Framework Convention for the Protection of National Minorities",
)
# long titles of decrees and laws: "On <measures> to <act> <object>, <object> and <object>"
_MEASURES = ("Urgent Measures", "Additional Measures", "Priority Measures", "Measures", "Some Issues")
_ACTS = ("Strengthen", "Ensure", "Protect", "Support", "Restore", "Reform", "Prevent and Counteract", "Improve")
_OBJECTS = (
    "Corruption in the Defense Sector",
    "the Rights of Internally Displaced Persons",
    "the Energy Infrastructure of Ukraine",
    "the Rights of National Minorities",
    "Cyber Threats",
    "the Financial Stability of the Banking System",
    "Critical Infrastructure",
    "Veterans of the Russian-Ukrainian War and Members of Their Families",
    "the Air Defense of Cities",
    "the Transparency of Public Finances",
    "the Reintegration of De-occupied Territories",
    "Children Deported from Ukraine",
)


def long_titles() -> list[str]:
    """Every measure with two acts on one to three objects (commas and "and" inside the name)."""
    out = []
    for i, measure in enumerate(_MEASURES):
        for j, act in enumerate(_ACTS):
            objs = [_OBJECTS[(i * 3 + j + k * 5) % len(_OBJECTS)] for k in range(1 + (i + j) % 3)]
            listed = objs[0] if len(objs) == 1 else ", ".join(objs[:-1]) + " and " + objs[-1]
            out.append(f"On {measure} to {act} {listed}")
    return out


_PLAN_TITLES = (
    "National Action Plan on Human Rights",
    "Plan for the Recovery of Ukraine",
    "Strategy of Economic Security",
    "State Anti-Corruption Program for 2023-2025",
    "Comprehensive Strategic Plan for the Reform of Law Enforcement Bodies",
    "Action Plan for the Implementation of the Association Agreement",
    "Eastern Partnership",
    "Association Agreement between Ukraine and the European Union",
)


def person_names() -> list[str]:
    """Ukrainian given + family names (each family name twice over, with two given names) and others."""
    names = [f"{g} {f}" for i, f in enumerate(_UKRAINIAN_FAMILY) for g in _UKRAINIAN_GIVEN[i % 7 :: 7][:2]]
    return names + list(_UKRAINIAN_FAMILY) + list(PER_OTHER)


def misc_names() -> list[str]:
    return list(MISC_THINGS) + law_titles() + list(_PLAN_TITLES) + list(_CONVENTIONS)


def law_titles() -> list[str]:
    return [f"On {s}" for s in _LAW_SUBJECTS] + long_titles()


BANK = {"ORG": list(ORG_BODIES) + list(ORG_MEDIA), "PER": person_names(), "MISC": misc_names()}
