package dev.lancet.engine.prune;

/**
 * The largest threshold τ ≥ 0 at which a non-decreasing removal count stays within a target, by bisection over
 * the bit patterns of non-negative doubles (ordered like their values): exact, and at most 64 counts, whatever the
 * costs' scale. A coordinator drives it one step at a time ({@link #candidate}, then {@link #counted} with the
 * total the workers report), so no worker ships its costs; {@link #largest} runs the loop in one go.
 *
 * <p>The result is the greatest double whose count is within the target, so it selects exactly what a sort of all
 * costs would (the costs at most τ), and lies between the last cost taken and the first left out. When even τ = 0
 * removes more than the target (structures of cost 0: dead or already zero), it is 0: they cost nothing to remove.
 */
public final class ThresholdSearch {

    private static final long INFINITY = Double.doubleToRawLongBits(Double.POSITIVE_INFINITY);

    private final long target;
    /** Bits of the largest τ known within the target; −1 while none is. */
    private long within = -1;
    /** Bits of the smallest τ known over the target; +∞ + 1 while none is. */
    private long over = INFINITY + 1;

    public ThresholdSearch(long target) {
        if (target < 0) {
            throw new IllegalArgumentException("target must be non-negative, got " + target);
        }
        this.target = target;
    }

    /** Runs the search against {@code count} and returns the threshold. */
    public static double largest(RemovalCount count, long target) {
        ThresholdSearch search = new ThresholdSearch(target);
        while (!search.done()) {
            search.counted(count.count(search.candidate()));
        }
        return search.threshold();
    }

    public boolean done() {
        return over - within <= 1;
    }

    /** The threshold to count at next. */
    public double candidate() {
        return Double.longBitsToDouble(within + (over - within) / 2);
    }

    /** The total removed at {@link #candidate()}. */
    public void counted(long total) {
        long at = within + (over - within) / 2;
        if (total <= target) {
            within = at;
        } else {
            over = at;
        }
    }

    /** The largest threshold within the target, once {@link #done()}. */
    public double threshold() {
        if (!done()) {
            throw new IllegalStateException("the search has not finished");
        }
        return within < 0 ? 0.0 : Double.longBitsToDouble(within);
    }
}
