import math
from hypothesis import given, settings, HealthCheck, strategies as st
from icframework.candid.textvalue import format_values, parse_values, parse_values_inferred
from tests.candid.strategies import candid_types, values_of

@st.composite
def tv(draw):
    t = draw(candid_types())
    return t, draw(values_of(t))

@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(tv())
def test_rt(x):
    t, v = x
    s = format_values([v], [t])
    assert parse_values(s, [t]) == (v,), s
    parse_values_inferred(s)
