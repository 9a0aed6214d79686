package dev.lancet.engine.prune;

/** The fraction of decoder linear weights removed after shot t of T, ending at the target s. */
public enum Schedule {
    /** s_t = t·s/T, the LLM Surgeon reference's schedule. */
    LINEAR,
    /** s_t = s·(1 − cos(π t / T))/2: smaller steps than linear at the start and the end, larger in between. */
    COSINE;

    public double at(int shot, int shots, double target) {
        double progress = (double) shot / shots;
        return switch (this) {
            case LINEAR -> target * progress;
            case COSINE -> target * (1 - Math.cos(Math.PI * progress)) / 2;
        };
    }
}
