package dev.lancet.engine.prune;

import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import java.util.List;

/**
 * The units of one shot: a decoder block for coupled groups (its heads and channels span several layers), every
 * decoder linear layer otherwise, in model order.
 */
public final class ShotUnits {

    private ShotUnits() {
    }

    public static int count(ModelLayout layout, Structure structure) {
        return structure == Structure.GROUPS ? layout.numBlocks() : layout.linears().size();
    }

    /** Refuses a structure the model cannot take: 2:4 needs every layer's input width to be a multiple of 4. */
    public static void check(ModelLayout layout, Structure structure) {
        if (structure == Structure.SEMI_2_4) {
            layout.linears().forEach(TwoFourBlocks::check);
        }
    }

    /** Weights and biases of every decoder linear layer: what {@code --target} is a fraction of. */
    public static long prunable(ModelLayout layout) {
        return layout.linears().stream().mapToLong(l -> (long) l.out() * l.inputsWithBias()).sum();
    }

    /**
     * Opens unit {@code unit} of the shot: computes its costs from the model's current weights and, for methods that
     * need it, the layer's factors in {@code curvature} (null for magnitude).
     */
    public static PruneUnit open(int unit, Transformer model, KfacState curvature, PruneSettings settings) {
        ModelLayout layout = model.layout();
        List<Linear> linears = linears(model, unit, settings.structure());
        if (settings.structure() == Structure.GROUPS) {
            return GroupUnit.open(unit, layout.block(unit), linears, curvature, settings);
        }
        LinearLayout described = layout.linears().get(unit);
        PruneUnit layer = LayerUnit.open(layout.blockOf(described.name()), linears.get(0),
                curvature == null ? null : curvature.get(described.name()), settings);
        return settings.method().globalCosts() ? layer
                : new UniformShare(layer, (long) described.out() * described.inputsWithBias());
    }

    /** The linear layers unit {@code unit} removes from and corrects: its block's for groups, else one layer. */
    public static List<Linear> linears(Transformer model, int unit, Structure structure) {
        return structure == Structure.GROUPS ? model.blocks().get(unit).linears() : List.of(model.linears().get(unit));
    }

    /** Units' reports in model order, flattened to their layers. */
    public static List<UnitReport.LayerRemoval> layers(List<UnitReport> reports) {
        return reports.stream().flatMap(r -> r.layers().stream()).toList();
    }
}
