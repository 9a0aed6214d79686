package dev.lancet.actors.calibration;

import com.google.protobuf.Message;
import org.apache.pekko.actor.typed.ActorRefResolver;

/**
 * A command that travels as a Protocol Buffers message: it knows its proto form, and
 * {@link ProtoSerializer} knows how to read it back. Actor references go as resolvable path strings.
 */
public interface WireMessage {
    Message toProto(ActorRefResolver resolver);
}
