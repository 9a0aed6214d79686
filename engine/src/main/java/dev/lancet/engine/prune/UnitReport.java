package dev.lancet.engine.prune;

import dev.lancet.proto.LayerRemovalProto;
import dev.lancet.proto.UnitReportProto;
import java.util.List;

/**
 * What one unit removed in one shot. Dense structures (rows, columns, elements) stay in the weights as zeros;
 * coupled groups (query heads, key/value heads with their query heads, MLP channels of a block) are listed for the
 * structural edit that removes them physically, indexed into the model as it was at the start of the shot.
 */
public record UnitReport(int block, List<LayerRemoval> layers, List<Integer> heads, List<Integer> kvHeads,
                         List<Integer> channels) {

    public UnitReport {
        layers = List.copyOf(layers);
        heads = List.copyOf(heads);
        kvHeads = List.copyOf(kvHeads);
        channels = List.copyOf(channels);
    }

    /** Rows, columns and single weights one layer lost, and the weights removed in all (an overlap counted once). */
    public record LayerRemoval(String layer, int rows, int columns, long weights) {
    }

    public static UnitReport dense(int block, List<LayerRemoval> layers) {
        return new UnitReport(block, layers, List.of(), List.of(), List.of());
    }

    public UnitReportProto toProto() {
        UnitReportProto.Builder b = UnitReportProto.newBuilder().setBlock(block).addAllHeads(heads)
                .addAllKvHeads(kvHeads).addAllChannels(channels);
        layers.forEach(l -> b.addLayers(LayerRemovalProto.newBuilder().setLayer(l.layer()).setRows(l.rows())
                .setColumns(l.columns()).setWeights(l.weights())));
        return b.build();
    }

    public static UnitReport fromProto(UnitReportProto p) {
        return new UnitReport(p.getBlock(), p.getLayersList().stream()
                .map(l -> new LayerRemoval(l.getLayer(), l.getRows(), l.getColumns(), l.getWeights())).toList(),
                p.getHeadsList(), p.getKvHeadsList(), p.getChannelsList());
    }
}
