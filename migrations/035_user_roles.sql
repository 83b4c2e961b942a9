-- User roles and automatic service provisioning (issue 15 item 9; seed 004, "Role LDAP filter",
-- "Service area LDAP filter" and the line options of the service area filters). Owned by
-- Sources/Inventory (UserRoleStatements.swift).

-- A domain's user roles: the default services a user of the role gets when automatic provisioning
-- brings it in, in the shape of an order's services. The phone is named after the user (CSF + the
-- user ID in capitals); the line follows the service area's number rules.
CREATE TABLE user_roles (
    domain             text NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
    name               text NOT NULL CHECK (name ~ '^[A-Za-z0-9 _.@-]{1,100}$' AND btrim(name) <> ''),
    phone_model        text NOT NULL CHECK (phone_model <> '' AND length(phone_model) <= 100),
    voicemail          boolean NOT NULL DEFAULT false,
    extension_mobility boolean NOT NULL DEFAULT false,
    -- IM and Presence with this service profile; NULL: none.
    im_presence        text CHECK (im_presence <> '' AND length(im_presence) <= 50),
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (domain, name)
);

-- The domain's "automatic service provisioning" switch (off by default) and its default role.
ALTER TABLE domains
    ADD COLUMN automatic_provisioning boolean NOT NULL DEFAULT false,
    ADD COLUMN default_role text,
    ADD CONSTRAINT domains_default_role FOREIGN KEY (name, default_role) REFERENCES user_roles (domain, name);

GRANT SELECT, INSERT, UPDATE, DELETE ON user_roles TO ucp_app;
