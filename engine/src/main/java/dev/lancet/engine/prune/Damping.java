package dev.lancet.engine.prune;

/**
 * Relative damping of the two Kronecker factors: M_d = M + damp · mean(diag M) · I, separately for G and A (the
 * mean over the live diagonal: dead indices are left out, as the reference deletes them before damping).
 */
public record Damping(double g, double a) {

    /** The reference's defaults for rows and columns (and groups). */
    public static final Damping STRUCTURED = new Damping(0.01, 0.01);
    /** The reference's scripts for unstructured and 2:4 (LLM Surgeon and its K-OBD baseline): G damped 10×. */
    public static final Damping ELEMENTS = new Damping(0.1, 0.01);

    public Damping {
        if (!(g >= 0 && a >= 0) || Double.isInfinite(g) || Double.isInfinite(a)) {
            throw new IllegalArgumentException("damping must be finite and non-negative, got g=" + g + " a=" + a);
        }
    }
}
