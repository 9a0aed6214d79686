package dev.lancet.engine.model;

/** Summed next-token negative log-likelihood over {@code tokens} labelled positions. */
public record Loss(double nllSum, long tokens) {

    public Loss plus(Loss other) {
        return new Loss(nllSum + other.nllSum, tokens + other.tokens);
    }

    public double perplexity() {
        return Math.exp(nllSum / tokens);
    }
}
