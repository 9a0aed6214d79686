package dev.lancet.daemon;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;

/**
 * Every call must carry {@code authorization: Bearer <token>}, the token read from the daemon's token file; the
 * comparison takes the same time wherever the first difference is. Anything else ends the call UNAUTHENTICATED
 * before the service sees it.
 */
final class BearerToken implements ServerInterceptor {

    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String SCHEME = "Bearer ";

    private final byte[] expected;

    private BearerToken(String token) {
        this.expected = token.getBytes(StandardCharsets.UTF_8);
    }

    /** The token file's first line, which must not be empty. */
    static BearerToken fromFile(Path file) {
        return new BearerToken(read(file));
    }

    static String read(Path file) {
        try {
            String token = Files.readString(file).strip();
            if (token.isEmpty() || token.contains("\n")) {
                throw new IllegalArgumentException(file + ": the token file must hold one non-empty line");
            }
            return token;
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read the token file");
        }
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String header = headers.get(AUTHORIZATION);
        byte[] given = header != null && header.startsWith(SCHEME)
                ? header.substring(SCHEME.length()).getBytes(StandardCharsets.UTF_8) : new byte[0];
        if (!MessageDigest.isEqual(expected, given)) {
            call.close(Status.UNAUTHENTICATED.withDescription("a valid bearer token is required"), new Metadata());
            return new ServerCall.Listener<>() { };
        }
        return next.startCall(call, headers);
    }
}
