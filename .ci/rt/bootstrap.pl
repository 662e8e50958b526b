#!/usr/bin/perl
# Idempotent set-up of the Request Tracker 5 instance the collector's tests use,
# through RT's Perl API (REST 2 cannot create custom fields, grant rights or mint
# tokens). Run as the server user: runuser -u www-data -- perl .ci/rt/bootstrap.pl
#
# Creates the queue "Endpoint Alerts" with a free-form ticket custom field
# "AlertKey" (the collector's correlation key), the user the collector acts as
# ("forewarn-bot") and a technician ("tech-alice"), with the rights they need.
# Prints fresh auth tokens for both on stdout as shell assignments; older tokens
# keep working.
use strict;
use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT;
RT::LoadConfig();
RT::Init();

my $system = RT->SystemUser;
sub ok { my ($ok, $what) = @_; die "bootstrap: $what\n" unless $ok; $ok }

my $queue = RT::Queue->new($system);
$queue->Load('Endpoint Alerts');
$queue->id or ok($queue->Create(Name => 'Endpoint Alerts', Lifecycle => 'default',
                                Description => 'Tickets opened by the Forewarn collector'),
                 'create queue');

my $cf = RT::CustomField->new($system);
$cf->LoadByName(Name => 'AlertKey', LookupType => RT::Ticket->CustomFieldLookupType);
$cf->id or ok($cf->Create(Name => 'AlertKey', Type => 'FreeformSingle',
                          LookupType => RT::Ticket->CustomFieldLookupType,
                          Description => 'Forewarn correlation key'),
              'create custom field AlertKey');
$cf->IsAdded($queue->id) or ok($cf->AddToObject($queue), 'apply AlertKey to the queue');

sub user_with_rights {
    my ($name, @rights) = @_;
    my $user = RT::User->new($system);
    $user->Load($name);
    $user->id or ok($user->Create(Name => $name, EmailAddress => "$name\@forewarn.test",
                                  Privileged => 1), "create user $name");
    for my $right (@rights) {
        next if $user->PrincipalObj->HasRight(Right => $right, Object => $queue);
        ok($user->PrincipalObj->GrantRight(Right => $right, Object => $queue), "grant $right to $name");
    }
    my $token = RT::AuthToken->new($system);
    my ($id, $msg, $secret) = $token->Create(Owner => $user->id, Description => 'forewarn tests');
    ok($id, "token for $name: $msg");
    return $secret;
}

my $bot = user_with_rights('forewarn-bot', qw(SeeQueue ShowTicket CreateTicket ModifyTicket
    CommentOnTicket ShowTicketComments SeeCustomField ModifyCustomField));
my $tech = user_with_rights('tech-alice', qw(SeeQueue ShowTicket ModifyTicket ReplyToTicket
    CommentOnTicket ShowTicketComments OwnTicket SeeCustomField));
print "RT_BOT_TOKEN='$bot'\nRT_TECH_TOKEN='$tech'\n";
