package dev.lancet.engine.prune;

/**
 * How a layer's removals are priced and compensated. Two families share the formulas and differ in curvature:
 * <ul>
 *   <li>OBS, removal with a correction of the remaining weights: {@link #SURGEON} with F ≈ G ⊗ A (LLM Surgeon) and
 *       {@link #SPARSEGPT} with G = I, the input second moments A only (OBS per row, as SparseGPT);</li>
 *   <li>OBD, removal only, priced by the undamped curvature: {@link #K_OBD} with G ⊗ A and {@link #MAGNITUDE} with
 *       G = A = I, i.e. ½w².</li>
 * </ul>
 */
public enum PruneMethod {
    SURGEON(true, true),
    K_OBD(false, true),
    MAGNITUDE(false, false),
    SPARSEGPT(true, false);

    private final boolean corrects;
    private final boolean usesG;

    PruneMethod(boolean corrects, boolean usesG) {
        this.corrects = corrects;
        this.usesG = usesG;
    }

    /** Whether removals are compensated by an OBS correction (and priced by OBS); otherwise only zeroed (OBD). */
    public boolean corrects() {
        return corrects;
    }

    /** Whether each shot needs fresh KFAC factors (every method but magnitude). */
    public boolean needsCurvature() {
        return usesA();
    }

    /**
     * Whether costs are in loss units, comparable across layers, so one threshold spreads the budget over the model.
     * SparseGPT's (G = I) are per-layer reconstruction errors: it removes the same share of every layer instead.
     */
    public boolean globalCosts() {
        return this != SPARSEGPT;
    }

    /** Whether the output-gradient factor G enters; without it G = I. */
    boolean usesG() {
        return usesG;
    }

    /** Whether the input factor A enters (every method but magnitude). */
    boolean usesA() {
        return this != MAGNITUDE;
    }
}
