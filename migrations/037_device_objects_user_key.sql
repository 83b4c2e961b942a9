-- Change notification (issue 13 item 3) brings the user records of the users a poll's changes touch
-- up to date: it stages their accounts and the phones, device profiles and remote destination
-- profiles they hold. Found by scanning every such object of the device and comparing the identity
-- each names, that was most of a poll's database time (a 10,000-user device: 33 ms for the devices,
-- 10 ms for the accounts, 9 ms for the remote destinations, per poll). This index finds them by the
-- name (lower case) they are held by: a user by its ID, a phone by its owner, a device profile by its
-- login user, a remote destination profile by its user, a remote destination by its profile.
-- The expression is DomainSyncSQL.userKey's, character for character.
CREATE INDEX device_objects_user_key ON device_objects (device, lower(CASE object_type WHEN 'User' THEN object_key
    WHEN 'Phone' THEN attributes->>'ownerUserName' WHEN 'DeviceProfile' THEN attributes->>'loginUserId'
    WHEN 'RemoteDestination' THEN attributes->>'remoteDestinationProfileName' ELSE attributes->>'userId' END))
    WHERE object_type IN ('User', 'Phone', 'DeviceProfile', 'RemoteDestinationProfile', 'RemoteDestination');
