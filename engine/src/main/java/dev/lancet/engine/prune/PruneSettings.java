package dev.lancet.engine.prune;

/**
 * How one shot prices and removes weights.
 *
 * @param damping      relative damping of G and A
 * @param maxCorrelate unstructured and 2:4 corrections solve jointly for at most this many weights (whole rows)
 */
public record PruneSettings(PruneMethod method, Structure structure, Damping damping, int maxCorrelate) {

    public PruneSettings {
        if (method == PruneMethod.SPARSEGPT && !structure.elementwise()) {
            throw new IllegalArgumentException("sparsegpt prunes single weights: use it with 2:4 or unstructured, not "
                    + structure.name().toLowerCase().replace('_', '-'));
        }
        if (maxCorrelate < 1) {
            throw new IllegalArgumentException("the correlated chunk must hold at least 1 weight, got " + maxCorrelate);
        }
    }

    /** The reference's defaults: 0.01 for both factors, 0.1 for G when single weights are removed; chunks of 2000. */
    public static PruneSettings defaults(PruneMethod method, Structure structure) {
        return new PruneSettings(method, structure, structure.elementwise() ? Damping.ELEMENTS : Damping.STRUCTURED,
                ElementCorrection.DEFAULT_MAX_CORRELATE);
    }
}
