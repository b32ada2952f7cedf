"""Reference Student-t quantiles for StudentTTests (values pasted into StudentTTests.swift).

Run: python3 make_student_t_fixtures.py  (needs scipy; written with scipy 1.17.1)
"""
from scipy.stats import t

DFS = list(range(1, 31)) + [50, 100, 1000]
PS = [0.6, 0.8, 0.9, 0.975, 0.995, 0.9995]

print("    // scipy.stats.t.ppf(p, df): df, then one value per p in", PS)
print("    static let ppf: [(df: Double, values: [Double])] = [")
for df in DFS:
    print("        (%d, [%s])," % (df, ", ".join(repr(float(t.ppf(p, df))) for p in PS)))
print("    ]")
print("    // scipy.stats.t.cdf(x, df) for (x, df)")
print("    static let cdf: [(x: Double, df: Double, p: Double)] = [")
for x, df in [(-3.0, 1), (0.5, 2), (1.0, 3), (2.0, 5), (-1.5, 10), (2.5, 30), (0.1, 1000), (10.0, 4)]:
    print("        (%r, %d, %r)," % (x, df, float(t.cdf(x, df))))
print("    ]")
