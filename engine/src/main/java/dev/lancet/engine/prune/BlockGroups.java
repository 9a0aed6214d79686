package dev.lancet.engine.prune;

import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Linear;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The coupled structures of one decoder block, removed together and then physically ({@link StructuralEdit}):
 * <ul>
 *   <li>{@link Kind#MLP_CHANNEL} k: row k of fc1 (or of gate and up) and column k of fc2 (down);</li>
 *   <li>{@link Kind#ATTENTION_HEAD} j, one per key/value head: its rows of k and v, the rows of its query heads in q
 *       (one head with multi-head attention, its group of query heads with GQA) and their columns of o;</li>
 *   <li>on GQA blocks only, query-head unit j ({@link #queryHeadUnits}): query head j of every key/value group, its
 *       rows of q and columns of o, so that every group keeps the same number of query heads. With multi-head
 *       attention a query head is its key/value head, so there are none.</li>
 * </ul>
 * A group's cost is the sum of its members' costs, each a joint set cost in its own layer ({@link LayerCosts});
 * removing groups gives every member layer its own correlated row or column correction for the removed set
 * ({@link StructureCorrection}). Both are per layer, so a worker holding one layer's curvature computes that layer's
 * share and the caller adds the shares of a block's layers.
 */
public final class BlockGroups {

    public enum Kind { MLP_CHANNEL, ATTENTION_HEAD }

    /** Where a group sits in one of its block's layers: rows (outputs) or columns (inputs) of that layer. */
    public record Member(LinearRole role, boolean rows, int[] indices) {
    }

    private final BlockLayout block;

    public BlockGroups(BlockLayout block) {
        this.block = block;
    }

    /** The kind of group a layer of this role belongs to. */
    public static Kind kindOf(LinearRole role) {
        return switch (role) {
            case Q, K, V, O -> Kind.ATTENTION_HEAD;
            case GATE, UP, DOWN -> Kind.MLP_CHANNEL;
        };
    }

    /** Groups of a kind in this block: MLP channels, or key/value heads. */
    public int count(Kind kind) {
        return kind == Kind.MLP_CHANNEL ? block.intermediate() : block.kvHeads();
    }

    /** Group {@code index}'s rows or columns in the layer of {@code role}. */
    public Member member(LinearRole role, int index) {
        int count = count(kindOf(role));
        if (index < 0 || index >= count) {
            throw new IllegalArgumentException(kindOf(role) + " " + index + " is out of range [0, " + count + ")");
        }
        int d = block.headDim();
        int g = block.group();
        return switch (role) {
            case GATE, UP -> new Member(role, true, new int[] {index});
            case DOWN -> new Member(role, false, new int[] {index});
            case K, V -> new Member(role, true, range(index * d, d));
            case Q -> new Member(role, true, range(index * g * d, g * d));
            case O -> new Member(role, false, range(index * g * d, g * d));
        };
    }

    /** Every member of group {@code index} of {@code kind}, in the block's layer order. */
    public List<Member> members(Kind kind, int index) {
        return block.linears().stream().filter(l -> kindOf(l.role()) == kind).map(l -> member(l.role(), index))
                .toList();
    }

    /** Query-head units of the block: the query heads per key/value group on GQA, none with multi-head attention. */
    public int queryHeadUnits() {
        return block.group() > 1 ? block.group() : 0;
    }

    /** The query heads of unit {@code unit}: head {@code unit} of each key/value group, ascending. */
    public List<Integer> queryHeads(int unit) {
        checkQueryHeadUnit(unit);
        return IntStream.range(0, block.kvHeads()).map(k -> k * block.group() + unit).boxed().toList();
    }

    /** Unit {@code unit}'s rows of q or columns of o ({@code role} Q or O). */
    public Member queryHeadMember(LinearRole role, int unit) {
        if (role != LinearRole.Q && role != LinearRole.O) {
            throw new IllegalArgumentException("a query head is rows of q and columns of o, not of " + role);
        }
        int d = block.headDim();
        int[] lines = queryHeads(unit).stream().flatMapToInt(h -> IntStream.range(h * d, h * d + d)).toArray();
        return new Member(role, role == LinearRole.Q, lines);
    }

    /** Weights and biases a query-head unit removes: one q row (inputs and bias) and one o column per feature. */
    public long queryHeadParameters() {
        long features = (long) block.kvHeads() * block.headDim();
        return features * (block.linear(LinearRole.Q).inputsWithBias() + block.linear(LinearRole.O).out());
    }

    /**
     * The o layer's cost of every query-head unit ([queryHeadUnits()]): the joint OBS cost of its columns
     * ({@link LayerCosts#columnSets}).
     */
    public double[] queryHeadCosts(LayerCurvature c, Linear o) {
        int[][] sets = IntStream.range(0, queryHeadUnits()).mapToObj(j -> queryHeadMember(LinearRole.O, j).indices())
                .toArray(int[][]::new);
        return LayerCosts.columnSets(c, o, sets);
    }

    /**
     * The columns of o that removing the key/value groups {@code kvHeads} and the query-head units
     * {@code queryUnits} together takes, a head in both counted once; ascending.
     */
    public int[] outputColumns(Collection<Integer> kvHeads, Collection<Integer> queryUnits) {
        return IntStream.concat(kvHeads.stream().flatMapToInt(k -> IntStream.of(member(LinearRole.O, k).indices())),
                queryUnits.stream().flatMapToInt(j -> IntStream.of(queryHeadMember(LinearRole.O, j).indices())))
                .distinct().sorted().toArray();
    }

    private void checkQueryHeadUnit(int unit) {
        if (unit < 0 || unit >= queryHeadUnits()) {
            throw new IllegalArgumentException("query-head unit " + unit + " is out of range [0, " + queryHeadUnits()
                    + ")" + (queryHeadUnits() == 0 ? ": multi-head attention has none" : ""));
        }
    }

    /** Weights and biases the group removes: a row takes its inputs and bias, a column its outputs. */
    public long parameters(Kind kind, int index) {
        long total = 0;
        for (Member m : members(kind, index)) {
            LinearLayout layer = block.linear(m.role());
            total += (long) m.indices().length * (m.rows() ? layer.inputsWithBias() : layer.out());
        }
        return total;
    }

    /**
     * The layer of {@code role}'s share of the cost of every group of its kind ([count(kind)]): its set cost for
     * each group's rows or columns ({@link LayerCosts#rowSets}, {@link LayerCosts#columnSets}; single rows and
     * columns for MLP channels).
     */
    public double[] costShares(LayerCurvature c, Linear layer, LinearRole role) {
        int count = count(kindOf(role));
        return switch (role) {
            case GATE, UP -> LayerCosts.rows(c, layer);
            case DOWN -> Arrays.copyOf(LayerCosts.columns(c, layer), count); // the bias column is no channel
            case Q, K, V -> LayerCosts.rowSets(c, layer, sets(role, count));
            case O -> LayerCosts.columnSets(c, layer, sets(role, count));
        };
    }

    /**
     * Corrects the layer of {@code role} for removing the groups {@code removed} of its kind jointly, leaving
     * their rows or columns exactly zero, for {@link StructuralEdit} to remove.
     */
    public void correct(LayerCurvature c, Linear layer, LinearRole role, Collection<Integer> removed) {
        int[] indices = removed.stream().flatMapToInt(k -> IntStream.of(member(role, k).indices())).toArray();
        if (member(role, 0).rows()) {
            StructureCorrection.rows(c, layer, indices);
        } else {
            StructureCorrection.columns(c, layer, indices);
        }
    }

    /** Adds the removal of groups {@code removed} of {@code kind} of block {@code blockIndex} to {@code edit}. */
    public static StructuralEdit addTo(StructuralEdit edit, int blockIndex, Kind kind, Collection<Integer> removed) {
        return kind == Kind.MLP_CHANNEL ? edit.dropChannels(blockIndex, removed) : edit.dropKvHeads(blockIndex, removed);
    }

    private int[][] sets(LinearRole role, int count) {
        List<int[]> sets = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            sets.add(member(role, k).indices());
        }
        return sets.toArray(int[][]::new);
    }

    private static int[] range(int start, int length) {
        return IntStream.range(start, start + length).toArray();
    }
}
