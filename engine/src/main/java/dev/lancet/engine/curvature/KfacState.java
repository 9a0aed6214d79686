package dev.lancet.engine.curvature;

import dev.lancet.engine.model.ModelLayout;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * KFAC factors of every decoder linear layer, in model order; mergeable and copyable. The state owns its
 * factors: {@link #close} frees them all.
 */
public final class KfacState implements AutoCloseable {

    private final Map<String, KfacFactor> factors = new LinkedHashMap<>();

    /** Empty factors for every decoder linear layer of a model with this layout. */
    public static KfacState empty(ModelLayout layout) {
        KfacState state = new KfacState();
        layout.linears().forEach(l -> state.put(KfacFactor.empty(l)));
        return state;
    }

    public void put(KfacFactor factor) {
        factors.put(factor.layer(), factor);
    }

    public KfacFactor get(String layer) {
        return find(layer).orElseThrow(() -> new IllegalArgumentException("no factors for layer '" + layer + "'"));
    }

    public Optional<KfacFactor> find(String layer) {
        return Optional.ofNullable(factors.get(layer));
    }

    public Collection<KfacFactor> factors() {
        return Collections.unmodifiableCollection(factors.values());
    }

    /** Labelled positions seen (equal for every layer once a batch is folded into all of them). */
    public long tokens() {
        return factors.values().stream().mapToLong(KfacFactor::tokens).max().orElse(0);
    }

    /** Adds another state over the same layers. */
    public void merge(KfacState other) {
        if (!other.factors.keySet().equals(factors.keySet())) {
            throw new IllegalArgumentException("cannot merge curvature of different layer sets");
        }
        other.factors.values().forEach(f -> factors.get(f.layer()).merge(f));
    }

    public KfacState copy() {
        KfacState copy = new KfacState();
        factors.values().forEach(f -> copy.put(f.copy()));
        return copy;
    }

    /** Frees every factor's native memory; the state must not be used afterwards. */
    @Override
    public void close() {
        factors.values().forEach(KfacFactor::close);
        factors.clear();
    }
}
