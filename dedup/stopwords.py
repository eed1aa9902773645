"""A compact English stopword list (function words and news verbs that carry no event)."""

STOPWORDS = frozenset(
    """
a about above after again against all almost also although always am among an and another any
are around as at back be became because become been before being below between both but by
can cannot could did do does doing done down during each either else enough even ever every
few for from further get gets getting go going got had has have having he her here hers
herself him himself his how however i if in including into is it its itself just last least
less like made make many may me might more most much must my myself near never new next no nor
not now of off often on once one only or other others our ours ourselves out over own per
perhaps put rather really said same say says see seen she should since so some still such
take than that the their theirs them themselves then there these they this those though
three through thus to today told too two under until up upon us very via was we well were
what when where whether which while who whom whose why will with within without would yet
you your yours yourself yourselves s t d ll m re ve mr mrs ms dr st according added adding
asked called comes continued including later like monday tuesday wednesday thursday friday
saturday sunday week year years day days time people percent news report reported reports
""".split()
)
