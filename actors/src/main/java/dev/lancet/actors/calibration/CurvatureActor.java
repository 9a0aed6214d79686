package dev.lancet.actors.calibration;

import com.google.protobuf.Message;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.proto.BlockSnapshot;
import dev.lancet.proto.FactorSums;
import dev.lancet.proto.RestoreRequest;
import dev.lancet.proto.SnapshotRequest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Keeps the model's KFAC state: the last snapshot of every block's running sums (in a {@link SnapshotStore},
 * so a restart loses nothing), restores layer actors from it, and assembles the whole state — merged with
 * a base state such as an earlier factor file — when a collection round completes.
 */
public final class CurvatureActor {

    public sealed interface Command extends WireMessage permits BlockState, Restore, Collect {
    }

    /** A layer actor's sums for a snapshot round. */
    public record BlockState(BlockSnapshot snapshot) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return snapshot;
        }
    }

    /** A (re)starting layer actor asks for its block's last snapshot. */
    public record Restore(int block, ActorRef<LayerActor.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return RestoreRequest.newBuilder().setBlock(block).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** Reply with the whole state once all {@code blocks} have reported round {@code round}. */
    public record Collect(long round, int blocks, ActorRef<Collected> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return SnapshotRequest.newBuilder().setRound(round).setBlocks(blocks)
                    .setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** The whole model's running sums (block −1). */
    public record Collected(BlockSnapshot state) implements WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return state;
        }

        public KfacState toState() {
            KfacState kfac = new KfacState();
            state.getFactorsList().forEach(f -> kfac.put(TensorBlocks.toFactor(f)));
            return kfac;
        }
    }

    private final SnapshotStore store;
    private final KfacState base;
    private final Map<Long, Collect> pending = new HashMap<>();

    private CurvatureActor(SnapshotStore store, KfacState base) {
        this.store = store;
        this.base = base;
    }

    /** @param base state to add to the collected sums (e.g. {@code --add-to}); null for none */
    public static Behavior<Command> create(SnapshotStore store, KfacState base) {
        Behavior<Command> behavior = Behaviors.setup(context -> new CurvatureActor(store, base).behavior());
        return Behaviors.supervise(behavior).onFailure(Exception.class, SupervisorStrategy.restart());
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(BlockState.class, this::onBlockState)
                .onMessage(Restore.class, this::onRestore)
                .onMessage(Collect.class, this::onCollect)
                .build();
    }

    private Behavior<Command> onBlockState(BlockState state) {
        // parse before storing: a corrupt snapshot fails here (and restarts this actor), never at restore time
        state.snapshot().getFactorsList().forEach(TensorBlocks::toFactor);
        store.save(state.snapshot());
        new ArrayList<>(pending.values()).forEach(this::tryCollect);
        return Behaviors.same();
    }

    private Behavior<Command> onRestore(Restore restore) {
        BlockSnapshot snapshot = store.load(restore.block())
                .orElse(BlockSnapshot.newBuilder().setBlock(restore.block()).build());
        restore.replyTo().tell(new LayerActor.Restored(snapshot));
        return Behaviors.same();
    }

    private Behavior<Command> onCollect(Collect collect) {
        pending.put(collect.round(), collect);
        tryCollect(collect);
        return Behaviors.same();
    }

    private void tryCollect(Collect collect) {
        List<BlockSnapshot> blocks = new ArrayList<>();
        for (int b = 0; b < collect.blocks(); b++) {
            BlockSnapshot snapshot = store.load(b).orElse(null);
            if (snapshot == null || snapshot.getRound() < collect.round()) {
                return;
            }
            blocks.add(snapshot);
        }
        pending.remove(collect.round());
        KfacState state = new KfacState();
        blocks.forEach(s -> s.getFactorsList().forEach(f -> state.put(TensorBlocks.toFactor(f))));
        if (base != null) {
            state.merge(base);
        }
        BlockSnapshot.Builder all = BlockSnapshot.newBuilder().setBlock(-1).setRound(collect.round());
        for (var factor : state.factors()) {
            FactorSums sums = TensorBlocks.toProto(factor, List.of());
            all.addFactors(sums);
        }
        collect.replyTo().tell(new Collected(all.build()));
    }
}
