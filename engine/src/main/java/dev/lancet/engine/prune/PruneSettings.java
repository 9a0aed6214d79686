package dev.lancet.engine.prune;

/**
 * How one shot prices and removes weights.
 *
 * @param dampG        relative damping of G: G + dampG·mean(diag G)·I
 * @param dampA        relative damping of A
 * @param maxCorrelate unstructured and 2:4 corrections solve jointly for at most this many weights (whole rows)
 */
public record PruneSettings(Method method, Structure structure, double dampG, double dampA, int maxCorrelate) {

    public PruneSettings {
        if (method == Method.SPARSEGPT && !structure.elementwise()) {
            throw new IllegalArgumentException("sparsegpt prunes single weights: use it with 2:4 or unstructured, not "
                    + structure.name().toLowerCase().replace('_', '-'));
        }
        if (!(dampG > 0) || !(dampA > 0)) {
            throw new IllegalArgumentException("damping must be positive, got G " + dampG + ", A " + dampA);
        }
        if (maxCorrelate < 1) {
            throw new IllegalArgumentException("the correlated chunk must hold at least 1 weight, got " + maxCorrelate);
        }
    }

    /** The reference's defaults: 0.01 for both factors, 0.1 for G when single weights are removed; chunks of 2000. */
    public static PruneSettings defaults(Method method, Structure structure) {
        return new PruneSettings(method, structure, structure.elementwise() ? 0.1 : 0.01, 0.01, 2000);
    }
}
