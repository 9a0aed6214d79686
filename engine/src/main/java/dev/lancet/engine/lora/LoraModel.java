package dev.lancet.engine.lora;

import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRA adapters on a frozen model: {@link #view()} is the model with the adapters in its forward and backward (it
 * shares the base weights), {@link #merge()} folds them into the base weights for good. Frees the adapters' native
 * memory on {@link #close()}; the base model stays the caller's.
 */
public final class LoraModel implements AutoCloseable {

    private final Transformer base;
    private final LoraSettings settings;
    private final Dropout dropout;
    private final List<LoraLayer> layers = new ArrayList<>();
    private final Transformer view;
    private boolean merged;

    private LoraModel(Transformer base, LoraSettings settings) {
        this.base = base;
        this.settings = settings;
        this.dropout = new Dropout(settings.dropout(), settings.seed());
        List<Linear> linears = base.linears();
        List<LinearLayout> shapes = base.layout().linears();
        Map<Linear, LoraLayer> adapted = new IdentityHashMap<>();
        for (int i = 0; i < linears.size(); i++) {
            if (settings.targets().contains(shapes.get(i).role())) {
                LoraLayer layer = new LoraLayer(linears.get(i), i, settings, dropout);
                layers.add(layer);
                adapted.put(linears.get(i), layer);
            }
        }
        this.view = base.withLinears(l -> adapted.containsKey(l) ? l.withAdapter(adapted.get(l)) : l);
    }

    /**
     * Adapters on every decoder linear layer of {@code base} whose role the settings target. Throws an
     * {@link IllegalArgumentException} when the rank exceeds a target layer's smaller width.
     */
    public static LoraModel attach(Transformer base, LoraSettings settings) {
        check(base.layout(), settings);
        return new LoraModel(base, settings);
    }

    /** Throws when the adapters would not fit a model of this layout: the rank exceeds a target layer's width, or none is targeted. */
    public static void check(ModelLayout layout, LoraSettings settings) {
        boolean any = false;
        for (LinearLayout l : layout.linears()) {
            if (settings.targets().contains(l.role())) {
                any = true;
                if (settings.rank() > Math.min(l.in(), l.out())) {
                    throw new IllegalArgumentException("LoRA rank " + settings.rank() + " is larger than layer "
                            + l.name() + " (" + l.out() + "x" + l.in() + ")");
                }
            }
        }
        if (!any) {
            throw new IllegalArgumentException("the model has no decoder linear layer of the roles " + settings.targets());
        }
    }

    public LoraSettings settings() {
        return settings;
    }

    /** The model with the adapters; shares the base's weights. Not to be used after {@link #merge()}. */
    public Transformer view() {
        requireUnmerged();
        return view;
    }

    List<LoraLayer> layers() {
        return layers;
    }

    Dropout dropout() {
        return dropout;
    }

    /** Trainable parameters: r·(in + out) per adapted layer. */
    public long trainableParameters() {
        return layers.stream().mapToLong(l -> l.a().length() + l.b().length()).sum();
    }

    /** Whether any adapted layer has zeros other than whole rows and columns, which trains at dense cost. */
    public boolean anyElementMasked() {
        return layers.stream().anyMatch(LoraLayer::elementMasked);
    }

    /** W += (α/r)·B·A on every adapted layer of the base model, zeros kept; the view is unusable afterwards. */
    public void merge() {
        requireUnmerged();
        layers.forEach(LoraLayer::merge);
        merged = true;
    }

    /** The base model, merged or not. */
    public Transformer base() {
        return base;
    }

    private void requireUnmerged() {
        if (merged) {
            throw new IllegalStateException("the adapters are already merged");
        }
    }

    @Override
    public void close() {
        layers.forEach(LoraLayer::close);
    }
}
