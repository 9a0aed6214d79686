package dev.lancet.engine.nn;

/**
 * How a checkpoint stretches RoPE past the context it was trained on (Hugging Face {@code rope_scaling}):
 * a map applied to each unscaled inverse frequency θ^(−2i/d).
 */
public sealed interface RopeScaling {

    RopeScaling UNSCALED = new Unscaled();

    double scale(double inverseFrequency);

    /** No rope_scaling, or rope_type "default". */
    record Unscaled() implements RopeScaling {
        @Override
        public double scale(double inverseFrequency) {
            return inverseFrequency;
        }
    }

    /** rope_type "linear" (position interpolation): every frequency divided by the factor. */
    record Linear(double factor) implements RopeScaling {
        @Override
        public double scale(double inverseFrequency) {
            return inverseFrequency / factor;
        }
    }

    /**
     * rope_type "llama3": wavelengths shorter than original/highFreqFactor are kept, those longer than
     * original/lowFreqFactor divided by the factor, and the band between blends the two with weight
     * s = (original/λ − low)/(high − low) on the unscaled frequency.
     */
    record Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions)
            implements RopeScaling {
        @Override
        public double scale(double inverseFrequency) {
            double wavelength = 2 * Math.PI / inverseFrequency;
            if (wavelength < originalMaxPositions / highFreqFactor) {
                return inverseFrequency;
            }
            if (wavelength > originalMaxPositions / lowFreqFactor) {
                return inverseFrequency / factor;
            }
            double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            return (1 - smooth) * inverseFrequency / factor + smooth * inverseFrequency;
        }
    }
}
