package dev.lancet.engine.prune;

/** How a removal is priced and whether the weights that stay are corrected. */
public enum Method {
    /** LLM Surgeon: OBS costs and correlated corrections under the Kronecker-factored curvature F ≈ G ⊗ A. */
    SURGEON(true, true),
    /** Kronecker-factored OBD: the diagonal of G ⊗ A prices each weight, nothing is corrected. */
    K_OBD(true, false),
    /** ½ w²: no curvature, no correction. */
    MAGNITUDE(false, false),
    /** SparseGPT's OBS with the input second moment A alone (G = I), corrected row by row. */
    SPARSEGPT(true, true);

    private final boolean curvature;
    private final boolean corrects;

    Method(boolean curvature, boolean corrects) {
        this.curvature = curvature;
        this.corrects = corrects;
    }

    /** Whether each shot needs fresh KFAC factors. */
    public boolean needsCurvature() {
        return curvature;
    }

    /** Whether the weights that stay are corrected (OBS) or only masked (OBD, magnitude). */
    public boolean corrects() {
        return corrects;
    }
}
