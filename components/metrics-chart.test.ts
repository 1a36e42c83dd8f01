import { describe, expect, it } from "vitest";
import { seriesPaths } from "./metrics-chart";

describe("seriesPaths (metrics chart geometry)", () => {
  const box = { from: 0, to: 100_000, yMax: 100, width: 600, height: 150 };
  it("maps time to x and value to y inside the plot area, one run per stretch without gaps", () => {
    // plot area: x 64..592, y 8..130
    expect(
      seriesPaths(
        [
          { t: 0, v: 0 },
          { t: 10_000, v: 50 },
          { t: 20_000, v: 100 },
        ],
        { ...box, to: 20_000 },
      ),
    ).toEqual(["M64.0,130.0 L328.0,69.0 L592.0,8.0"]);
    // a 30 s silence (agent down) breaks the line
    expect(
      seriesPaths(
        [
          { t: 0, v: 10 },
          { t: 5_000, v: 10 },
          { t: 40_000, v: 10 },
          { t: 45_000, v: 10 },
        ],
        box,
      ),
    ).toHaveLength(2);
    // a lone sample is drawn as a dot (a tiny segment with round caps)
    expect(seriesPaths([{ t: 50_000, v: 50 }], box)).toEqual(["M328.0,69.0 h0.01"]);
  });
  it("clips values to the scale and drops points outside the window", () => {
    expect(
      seriesPaths(
        [
          { t: -1, v: 5 },
          { t: 10_000, v: 250 },
          { t: 200_000, v: 5 },
        ],
        box,
      ),
    ).toEqual(["M116.8,8.0 h0.01"]);
    expect(seriesPaths([], box)).toEqual([]);
    expect(seriesPaths([{ t: 1, v: Number.NaN }], box)).toEqual([]);
  });
});
