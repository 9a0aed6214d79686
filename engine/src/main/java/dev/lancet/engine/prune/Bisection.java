package dev.lancet.engine.prune;

/**
 * The largest threshold τ ≥ 0 whose removed count stays within a target, for a count that only grows with τ and can
 * be asked one τ at a time (the counts come from workers, each holding its own costs). Bisection runs on the bit
 * patterns of non-negative doubles, which order like the doubles themselves, so it ends after at most 64 questions on
 * the exact threshold a sort of all costs would give, whatever the costs' range.
 */
public final class Bisection {

    private final long target;
    /** Invariant: count(lo) ≤ target (or lo is 0), count(hi) > target. */
    private long lo;
    private long hi;
    private double result = Double.NaN;

    /**
     * @param maxCost     the highest cost of any candidate (count(maxCost) is everything)
     * @param countAtMax  the count at τ = maxCost
     */
    public Bisection(long target, double maxCost, long countAtMax) {
        this.target = target;
        if (countAtMax <= target) {
            result = maxCost;
        }
        this.lo = Double.doubleToLongBits(0.0);
        this.hi = Double.doubleToLongBits(Math.max(maxCost, 0.0));
    }

    public boolean done() {
        return !Double.isNaN(result) || hi - lo <= 1;
    }

    /** The threshold to count next. */
    public double next() {
        return Double.longBitsToDouble(lo + (hi - lo) / 2);
    }

    /** The count at the threshold {@link #next} gave. */
    public void record(double tau, long count) {
        long bits = Double.doubleToLongBits(tau);
        if (count <= target) {
            lo = bits;
        } else {
            hi = bits;
        }
    }

    /** The largest τ with count(τ) ≤ target (τ = 0 when already-dead structures alone exceed it). */
    public double threshold() {
        if (!done()) {
            throw new IllegalStateException("bisection not finished");
        }
        return Double.isNaN(result) ? Double.longBitsToDouble(lo) : result;
    }
}
