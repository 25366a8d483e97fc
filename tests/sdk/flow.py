"""A client app's whole flow through the Python SDK that openapi-python-client generated from the
served /openapi.json, and through nothing else. Run by tests/api/sdk.rs, type-checked with mypy:

    python flow.py BASE_URL   (the generated package `orgsvc_client` on PYTHONPATH)
"""

import sys
import uuid
from http import HTTPStatus
from typing import Any, TypeVar

from orgsvc_client import AuthenticatedClient, Client
from orgsvc_client.api.admin import login, logout
from orgsvc_client.api.api_keys import create_api_key, revoke_api_key
from orgsvc_client.api.documents import (
    delete_document,
    get_document,
    insert_document,
    list_documents,
    replace_document,
)
from orgsvc_client.api.members import accept_invitation, invite, list_members
from orgsvc_client.api.organizations import (
    create_organization,
    delete_organization,
    get_organization,
    list_audit_events,
    update_organization,
)
from orgsvc_client.models import (
    AcceptInvitationBody,
    ApiKeyResponse,
    CreateApiKeyBody,
    ScopeDto,
    CreateOrganizationBody,
    DeletedDocumentResponse,
    DeletedOrganizationResponse,
    DocumentPageResponse,
    DocumentRequest,
    DocumentResponse,
    InviteBody,
    InvitationResponse,
    JoinedResponse,
    LoginBody,
    MembersResponse,
    OrganizationResponse,
    Problem,
    RoleDto,
    TokenResponse,
    UpdateOrganizationBody,
    AuditPageResponse,
)
from orgsvc_client.types import UNSET, Response, Unset

T = TypeVar("T")


def expect(step: str, response: Response[Any], status: int, kind: type[T]) -> T:
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, kind):
        raise SystemExit(
            f"{step}: expected {status} {kind.__name__}, got {response.status_code} "
            f"{response.content!r}"
        )
    print(f"python sdk: {step}: {status}")
    return parsed


def main(base_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    name, email, password = f"Py Sdk {run}", f"owner-{run}@sdk.test", "python sdk passphrase"
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    created = expect(
        "create",
        create_organization.sync_detailed(
            client=anonymous,
            body=CreateOrganizationBody(organization_name=name, email=email, password=password),
        ),
        HTTPStatus.CREATED,
        OrganizationResponse,
    )
    assert created.collection_name == f"org_py_sdk_{run}", created.collection_name

    def log_in(who: str, secret: str) -> AuthenticatedClient:
        token = expect(
            f"log in as {who}",
            login.sync_detailed(client=anonymous, body=LoginBody(email=who, password=secret)),
            HTTPStatus.OK,
            TokenResponse,
        )
        return AuthenticatedClient(
            base_url=base_url, token=token.access_token, raise_on_unexpected_status=True
        )

    owner = log_in(email, password)
    own = expect(
        "get (signed in)",
        get_organization.sync_detailed(client=owner, organization_name=name),
        HTTPStatus.OK,
        OrganizationResponse,
    )
    assert own.admin_email == email, own

    # Documents: nested values and arrays travel as sent.
    stored = []
    for n in range(3):
        content = {"title": f"report {n}", "pages": n, "tags": ["a", {"nested": [n, [n]]}]}
        document = expect(
            f"store document {n}",
            insert_document.sync_detailed(client=owner, body=DocumentRequest.from_dict(content)),
            HTTPStatus.CREATED,
            DocumentResponse,
        )
        assert document.data.to_dict() == content, document.data.to_dict()
        stored.append(document)

    seen: list[DocumentResponse] = []
    after: uuid.UUID | Unset = UNSET
    while True:
        page = expect(
            "page documents",
            list_documents.sync_detailed(client=owner, limit=2, after=after),
            HTTPStatus.OK,
            DocumentPageResponse,
        )
        seen.extend(page.documents)
        if not isinstance(page.next_, uuid.UUID):
            break
        after = page.next_
    assert sorted(d.id for d in seen) == sorted(d.id for d in stored), seen

    first = stored[0].id
    read = expect(
        "read document",
        get_document.sync_detailed(first, client=owner),
        HTTPStatus.OK,
        DocumentResponse,
    )
    assert read.data.to_dict() == stored[0].data.to_dict()
    replacement = {"title": "replaced", "done": True}
    replaced = expect(
        "replace document",
        replace_document.sync_detailed(
            first, client=owner, body=DocumentRequest.from_dict(replacement)
        ),
        HTTPStatus.OK,
        DocumentResponse,
    )
    assert replaced.data.to_dict() == replacement
    expect(
        "delete document",
        delete_document.sync_detailed(first, client=owner),
        HTTPStatus.OK,
        DeletedDocumentResponse,
    )
    gone = get_document.sync_detailed(first, client=owner)
    expect("read deleted document", gone, HTTPStatus.NOT_FOUND, Problem)

    new_name = f"Py Sdk Renamed {run}"
    renamed = expect(
        "rename",
        update_organization.sync_detailed(
            client=owner, body=UpdateOrganizationBody(organization_name=new_name)
        ),
        HTTPStatus.OK,
        OrganizationResponse,
    )
    assert renamed.collection_name == f"org_py_sdk_renamed_{run}", renamed
    left = expect(
        "page after rename",
        list_documents.sync_detailed(client=owner),
        HTTPStatus.OK,
        DocumentPageResponse,
    )
    assert len(left.documents) == 2, left

    # A client app with a key alone.
    key = expect(
        "create API key",
        create_api_key.sync_detailed(
            client=owner,
            body=CreateApiKeyBody(name="python app", scopes=[ScopeDto.DOCUMENTSREAD]),
        ),
        HTTPStatus.CREATED,
        ApiKeyResponse,
    )
    assert isinstance(key.key, str) and key.key.startswith("osk_"), key
    app = AuthenticatedClient(base_url=base_url, token=key.key)
    read_by_key = expect(
        "page documents with the key",
        list_documents.sync_detailed(client=app),
        HTTPStatus.OK,
        DocumentPageResponse,
    )
    assert len(read_by_key.documents) == 2, read_by_key
    status = revoke_api_key.sync_detailed(key.id, client=owner).status_code
    assert status == HTTPStatus.NO_CONTENT, status
    revoked_key = list_documents.sync_detailed(client=app)
    expect("the key after revocation", revoked_key, HTTPStatus.UNAUTHORIZED, Problem)

    member_email = f"member-{run}@sdk.test"
    invitation = expect(
        "invite",
        invite.sync_detailed(client=owner, body=InviteBody(email=member_email, role=RoleDto.MEMBER)),
        HTTPStatus.CREATED,
        InvitationResponse,
    )
    assert isinstance(invitation.token, str)
    joined = expect(
        "accept",
        accept_invitation.sync_detailed(
            client=anonymous,
            body=AcceptInvitationBody(token=invitation.token, password="member passphrase"),
        ),
        HTTPStatus.OK,
        JoinedResponse,
    )
    assert joined.role == RoleDto.MEMBER
    members = expect(
        "list members",
        list_members.sync_detailed(client=owner),
        HTTPStatus.OK,
        MembersResponse,
    )
    assert {(m.email, m.role) for m in members.members} == {
        (email, RoleDto.OWNER),
        (member_email, RoleDto.MEMBER),
    }, members

    audit = expect(
        "audit log",
        list_audit_events.sync_detailed(client=owner, limit=100),
        HTTPStatus.OK,
        AuditPageResponse,
    )
    actions = {str(event.action) for event in audit.events}
    for action in ["organization_created", "organization_renamed", "invitation_created", "member_joined"]:
        assert action in actions, (action, actions)

    status = logout.sync_detailed(client=owner).status_code
    assert status == HTTPStatus.NO_CONTENT, status
    print("python sdk: log out: 204")
    revoked = list_members.sync_detailed(
        client=AuthenticatedClient(base_url=base_url, token=owner.token)
    )
    expect("token after log out", revoked, HTTPStatus.UNAUTHORIZED, Problem)

    owner = log_in(email, password)
    expect(
        "delete",
        delete_organization.sync_detailed(client=owner, organization_name=new_name),
        HTTPStatus.OK,
        DeletedOrganizationResponse,
    )
    missing = get_organization.sync_detailed(client=anonymous, organization_name=new_name)
    expect("get deleted", missing, HTTPStatus.NOT_FOUND, Problem)
    print("python sdk: the whole flow passed")


if __name__ == "__main__":
    main(sys.argv[1])
